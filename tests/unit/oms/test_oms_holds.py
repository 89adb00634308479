"""The pure rules of funds holds: what is withdrawable, the free margin net of holds, the moves."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fxmesh.reasons import Reason
from oms.domain.accounting import live_figures
from oms.domain.holds import (
    HoldMove,
    HoldRow,
    HoldStatus,
    capture_problem,
    is_replay,
    move_problem,
    same_request,
    withdrawable,
)
from oms.domain.model import AccountId, account_figures

D = Decimal
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def hold(status: HoldStatus = HoldStatus.ACTIVE, amount: str = "800.00") -> HoldRow:
    return HoldRow(
        hold_id=7,
        account_id=AccountId(1),
        amount=D(amount),
        currency="USD",
        request_id="wd-1",
        method="BANK_TRANSFER",
        reference="ref",
        note=None,
        status=status,
        ledger_id=99 if status is HoldStatus.CAPTURED else None,
        created_at=T0,
        updated_at=T0,
    )


def test_figures_when_funds_held_then_free_margin_drops_and_margin_level_does_not() -> None:
    free = account_figures(D("10000.00"), D("50.00"), D("1084.50"), "USD")
    held = account_figures(D("10000.00"), D("50.00"), D("1084.50"), "USD", D("3000"))

    assert held.free_margin == free.free_margin - D("3000") == D("5965.50")
    assert held.held == D("3000.00")
    assert (held.margin_level, held.equity) == (free.margin_level, free.equity)


def test_live_figures_when_held_without_positions_then_free_margin_is_balance_less_held() -> None:
    fig = live_figures(D("1000.00"), "USD", 100, [], [], {}, {}, strict=True, held=D("400.00"))

    assert (fig.free_margin, fig.held) == (D("600.00"), D("400.00"))


@pytest.mark.parametrize(
    ("free_margin", "balance", "held", "expected"),
    [
        ("600.00", "1000.00", "400.00", "600.00"),  # flat account: balance less held
        ("900.00", "1000.00", "0", "900.00"),  # margin in use limits it
        ("1500.00", "1000.00", "200.00", "800.00"),  # floating profit is not cash
        ("-50.00", "1000.00", "400.00", "0"),  # never below zero
    ],
)
def test_withdrawable_when_funds_held_then_neither_free_margin_nor_held_money(
    free_margin: str, balance: str, held: str, expected: str
) -> None:
    assert withdrawable(D(free_margin), D(balance), D(held)) == D(expected)


@pytest.mark.parametrize(
    ("status", "move", "problem", "replay"),
    [
        (HoldStatus.ACTIVE, HoldMove.CAPTURE, None, False),
        (HoldStatus.ACTIVE, HoldMove.RELEASE, None, False),
        (HoldStatus.CAPTURED, HoldMove.CAPTURE, None, True),
        (HoldStatus.RELEASED, HoldMove.RELEASE, None, True),
        (HoldStatus.CAPTURED, HoldMove.RELEASE, Reason.HOLD_NOT_ACTIVE, False),
        (HoldStatus.RELEASED, HoldMove.CAPTURE, Reason.HOLD_NOT_ACTIVE, False),
    ],
)
def test_move_when_hold_in_state_then_applies_replays_or_is_refused(
    status: HoldStatus, move: HoldMove, problem: str | None, replay: bool
) -> None:
    found = move_problem(hold(status), move)

    assert (found.code if found else None) == problem
    assert is_replay(hold(status), move) is replay


def test_capture_when_balance_no_longer_covers_hold_then_insufficient_balance() -> None:
    assert capture_problem(hold(amount="800.00"), D("800.00")) is None
    problem = capture_problem(hold(amount="800.00"), D("799.99"))

    assert problem is not None
    assert problem.code == Reason.INSUFFICIENT_BALANCE


def test_same_request_when_content_differs_then_not_a_retry() -> None:
    h = hold()

    assert same_request(h, D("800.00"), "BANK_TRANSFER", "ref", None)
    assert not same_request(h, D("800.01"), "BANK_TRANSFER", "ref", None)
    assert not same_request(h, D("800.00"), "CARD", "ref", None)
