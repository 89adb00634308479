"""Funds holds: money set aside for a withdrawal that waits for approval. Pure rules, Decimal.

A hold is placed ACTIVE; it ends CAPTURED (the WITHDRAWAL ledger row is booked) or RELEASED (the
money is free again, nothing booked). While ACTIVE its amount counts in the account's ``held``:

* free margin = equity - margin - held (``model.account_figures``), so neither a new order's
  margin nor another withdrawal can use it;
* what may be withdrawn (or held again) = max(min(free margin, balance - held), 0): floating
  profit is not cash, and held money is spoken for.

The moves are the literal table ``MOVES``; repeating the move that ended a hold is a replay (the
same answer), any other move from a final state is ``HOLD_NOT_ACTIVE``. A capture also needs the
balance to cover the amount (losses may have eaten into it while the hold waited):
``INSUFFICIENT_BALANCE``, since a withdrawal never takes the balance below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fxmesh.reasons import Reason
from oms.domain.model import AccountId
from oms.domain.validation import Problem

__all__ = [
    "MOVES",
    "HoldMove",
    "HoldRow",
    "HoldStatus",
    "capture_problem",
    "is_replay",
    "move_problem",
    "same_request",
    "withdrawable",
]


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"


class HoldMove(StrEnum):
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"


MOVES: dict[tuple[HoldStatus, HoldMove], HoldStatus] = {
    (HoldStatus.ACTIVE, HoldMove.CAPTURE): HoldStatus.CAPTURED,
    (HoldStatus.ACTIVE, HoldMove.RELEASE): HoldStatus.RELEASED,
}
"""(status, move) -> the status after it; a pair not listed is not a legal move."""


@dataclass(frozen=True, slots=True)
class HoldRow:
    """A funds hold as stored (``amount`` positive, in the account currency)."""

    hold_id: int
    account_id: AccountId
    amount: Decimal
    currency: str
    request_id: str
    method: str | None
    reference: str | None
    note: str | None
    status: HoldStatus
    ledger_id: int | None
    created_at: datetime
    updated_at: datetime


def withdrawable(free_margin: Decimal, balance: Decimal, held: Decimal) -> Decimal:
    """What a withdrawal (or a new hold) may take: free margin (already net of ``held``), at most
    the balance not held, never below zero."""
    return max(min(free_margin, balance - held), Decimal(0))


def same_request(
    hold: HoldRow,
    amount: Decimal,
    method: str | None,
    reference: str | None,
    note: str | None,
) -> bool:
    """Whether a repeated request id asks for the very hold it placed (a retry), not another."""
    return (hold.amount, hold.method, hold.reference, hold.note) == (
        amount,
        method,
        reference,
        note,
    )


def move_problem(hold: HoldRow, move: HoldMove) -> Problem | None:
    """None when ``move`` applies to the hold or repeats the move that ended it (a replay);
    Reason.HOLD_NOT_ACTIVE otherwise (capturing a released hold, releasing a captured one)."""
    if (hold.status, move) in MOVES or is_replay(hold, move):
        return None
    return Problem(
        Reason.HOLD_NOT_ACTIVE,
        f"hold {hold.hold_id} is {hold.status.value.lower()}; it cannot be "
        f"{'captured' if move is HoldMove.CAPTURE else 'released'}",
    )


def is_replay(hold: HoldRow, move: HoldMove) -> bool:
    """The hold already ended with this very move: answer what it did, change nothing."""
    return (hold.status, move) in (
        (HoldStatus.CAPTURED, HoldMove.CAPTURE),
        (HoldStatus.RELEASED, HoldMove.RELEASE),
    )


def capture_problem(hold: HoldRow, balance: Decimal) -> Problem | None:
    """Why an ACTIVE hold cannot be captured now: the balance no longer covers it."""
    if balance - hold.amount < 0:
        return Problem(
            Reason.INSUFFICIENT_BALANCE,
            f"capturing {hold.amount} {hold.currency} would take the balance {balance} below zero",
        )
    return None
