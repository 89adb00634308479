"""The order domain: ExecutionReport aggregation, dedupe, legacy dialects, lots <-> LP units."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fixgw.config import OrderStyle, QtyUnit
from fixgw.domain import ExecutionReport
from fixgw.orders.domain import (
    Attempt,
    AttemptStatus,
    OrderRecord,
    OrderStatus,
    Reason,
    Side,
    apply_report,
    attempt_cl_ord_id,
    cl_ord_id,
    order_terms,
    order_view,
    parse_cl_ord_id,
    plain,
    qty_factor,
    reject,
    to_lots,
)

NOW = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
D = Decimal


def attempt(**changes: object) -> Attempt:
    base = Attempt(
        cl_ord_id="FXM42-1",
        order_id="42",
        attempt_no=1,
        lp="LP1",
        lp_symbol="EURUSD",
        side=Side.BUY,
        style=OrderStyle.MARKET,
        limit_price=None,
        lp_qty=D("100000"),
        qty_factor=D("100000"),
        status=AttemptStatus.PENDING,
        sent_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def report(exec_type: str, ord_status: str, **fields: object) -> ExecutionReport:
    values: dict[str, object] = {
        "lp": "LP1",
        "cl_ord_id": "FXM42-1",
        "order_id": "O1",
        "exec_id": "E1",
        "exec_type": exec_type,
        "ord_status": ord_status,
        "symbol": "EURUSD",
        "side": "1",
        "last_qty": None,
        "last_px": None,
        "cum_qty": D(0),
        "leaves_qty": None,
        "avg_px": D(0),
        "text": None,
    }
    values.update(fields)
    return ExecutionReport(**values)  # type: ignore[arg-type]


def trade(
    exec_id: str, last: str, px: str, cum: str, status: str = "2", **kw: object
) -> ExecutionReport:
    return report(
        "F",
        status,
        exec_id=exec_id,
        last_qty=D(last),
        last_px=D(px),
        cum_qty=D(cum),
        avg_px=D(px),
        **kw,
    )


def test_full_fill_when_applied_then_attempt_filled_in_lots_with_lp_exec_id() -> None:
    # Act
    applied = apply_report(attempt(), trade("E7", "100000", "1.10012", "100000"), NOW)

    # Assert
    assert applied is not None
    assert applied.became_final
    assert applied.attempt.status is AttemptStatus.FILLED
    assert applied.attempt.filled == D(1)
    assert applied.fill is not None
    assert applied.fill.exec_id == "E7"
    assert applied.fill.volume == D(1)
    assert applied.fill.price == D("1.10012")
    assert applied.fill.lp_order_id == "O1"


def test_duplicate_exec_id_when_applied_twice_then_second_changes_nothing() -> None:
    first = apply_report(attempt(), trade("E7", "50000", "1.1", "50000", "1"), NOW)
    assert first is not None

    again = apply_report(first.attempt, trade("E7", "50000", "1.1", "50000", "1"), NOW)

    assert again is None
    assert first.attempt.filled == D("0.5")


def test_replayed_trade_when_cum_already_covered_then_no_second_fill() -> None:
    # Arrange: a status answer (ExecType I) reported the whole fill first
    status = report("I", "2", exec_id="0", cum_qty=D("100000"), avg_px=D("1.2"))
    after_status = apply_report(attempt(timed_out=True), status, NOW)
    assert after_status is not None
    assert after_status.attempt.status is AttemptStatus.FILLED

    # Act: the LP's late (PossDup) trade report of the same quantity
    late = apply_report(
        after_status.attempt,
        trade("E9", "100000", "1.2", "100000", poss_dup=True),
        NOW,
    )

    # Assert: stored for dedupe, but no fill and no change of the filled volume
    assert late is not None
    assert late.fill is None
    assert late.attempt.filled == D(1)
    assert len(late.attempt.fills) == 1
    assert late.attempt.fills[0].exec_id == "FXM42-1@100000"


def test_partial_then_expire_when_applied_then_partially_filled_final() -> None:
    partial = apply_report(attempt(), trade("E1", "30000", "1.1", "30000", "1"), NOW)
    assert partial is not None
    assert partial.attempt.status is AttemptStatus.PENDING

    expired = apply_report(
        partial.attempt,
        report("C", "C", exec_id="E2", cum_qty=D("30000"), avg_px=D("1.1"), text="IOC remainder"),
        NOW,
    )

    assert expired is not None
    assert expired.became_final
    assert expired.attempt.status is AttemptStatus.PARTIALLY_FILLED
    assert expired.attempt.filled == D("0.3")


def test_reject_when_applied_then_rejected_with_lp_text() -> None:
    applied = apply_report(
        attempt(), report("8", "8", text="price off market", ord_rej_reason="99"), NOW
    )

    assert applied is not None
    assert applied.attempt.status is AttemptStatus.REJECTED
    assert applied.attempt.reject_reason == Reason.LP_REJECTED
    assert applied.attempt.reject_message == "price off market"


def test_ioc_cancelled_by_lp_when_nothing_filled_then_expired() -> None:
    applied = apply_report(attempt(), report("4", "4", text="no liquidity"), NOW)

    assert applied is not None
    assert applied.attempt.status is AttemptStatus.REJECTED
    assert applied.attempt.reject_reason == Reason.LP_EXPIRED


def test_status_answer_unknown_order_when_timed_out_then_rejected_timeout() -> None:
    applied = apply_report(
        attempt(timed_out=True, status=AttemptStatus.UNKNOWN),
        report("I", "8", order_id="NONE", text="unknown order", ord_rej_reason="5"),
        NOW,
    )

    assert applied is not None
    assert applied.attempt.status is AttemptStatus.REJECTED
    assert applied.attempt.reject_reason == Reason.LP_TIMEOUT
    assert applied.execution is None  # a status answer without a fill is not stored


@pytest.mark.parametrize(("raw", "status"), [("1", "1"), ("2", "2")])
def test_legacy_exec_type_when_fix42_fill_then_read_as_trade(raw: str, status: str) -> None:
    applied = apply_report(
        attempt(),
        report(raw, status, last_qty=D("100000"), last_px=D("1.3"), cum_qty=D("100000")),
        NOW,
    )

    assert applied is not None
    assert applied.fill is not None
    assert applied.attempt.status is AttemptStatus.FILLED


def test_trade_without_cum_qty_when_dialect_omits_it_then_last_qty_counts() -> None:
    applied = apply_report(
        attempt(),
        report("F", "2", last_qty=D("100000"), last_px=D("1.3"), cum_qty=None, avg_px=None),
        NOW,
    )

    assert applied is not None
    assert applied.attempt.filled == D(1)


def test_two_partials_when_applied_then_average_price_volume_weighted() -> None:
    first = apply_report(attempt(), trade("E1", "50000", "1.1", "50000", "1"), NOW)
    assert first is not None
    second = apply_report(first.attempt, trade("E2", "50000", "1.2", "100000"), NOW)
    assert second is not None

    record = OrderRecord("42", "A1", "EURUSD", Side.BUY, D(1), D(100000), False)
    view = order_view(record, [second.attempt], running=False)

    assert view.status is OrderStatus.FILLED
    assert view.filled_volume == D(1)
    assert view.average_price == D("1.15")
    assert [f.exec_id for f in view.fills] == ["E1", "E2"]


def test_lots_and_units_when_converted_then_exact() -> None:
    assert qty_factor(D("100000"), QtyUnit.UNITS) == D("100000")
    assert qty_factor(D("100000"), QtyUnit.LOTS) == D(1)
    assert plain(D("0.10") * D("100000")) == "10000"
    assert to_lots(D("12345"), D("100000")) == D("0.12345")
    assert plain(D("1.10000")) == "1.1"


def test_limit_terms_when_no_worst_price_then_lp_price_moved_by_slippage() -> None:
    top = (D("1.10000"), D("1.10010"))

    buy = order_terms(OrderStyle.LIMIT_IOC, Side.BUY, None, top, D("0.001"))
    sell = order_terms(OrderStyle.LIMIT_FOK, Side.SELL, None, top, D("0.001"))
    market = order_terms(OrderStyle.MARKET, Side.BUY, None, None, D("0.001"))
    worst = order_terms(OrderStyle.MARKET, Side.BUY, D("1.2"), None, D("0.001"))
    no_price = order_terms(OrderStyle.LIMIT_IOC, Side.BUY, None, None, D("0.001"))

    assert buy is not None
    assert buy.limit_price == D("1.10120")  # 1.10010 x 1.001 = 1.1012001, down
    assert sell is not None
    assert sell.limit_price == D("1.09890")  # 1.1 x 0.999 = 1.0989
    assert market is not None
    assert market.limit_price is None
    assert worst is not None
    assert (worst.style, worst.limit_price) == (OrderStyle.LIMIT_IOC, D("1.2"))
    assert no_price is None


def test_cl_ord_ids_when_parsed_then_cancel_and_status_ids_map_to_attempt() -> None:
    key = cl_ord_id("FXM", "1001", 3)

    assert key == "FXM1001-3"
    assert parse_cl_ord_id("FXM", key) == ("1001", 3)
    assert attempt_cl_ord_id("FXM", key + "-C18c2f1") == key
    assert attempt_cl_ord_id("FXM", key + "-S18c2f2") == key
    assert parse_cl_ord_id("FXM", "OTHER-1") is None


def test_order_view_when_no_attempt_and_not_running_then_no_liquidity() -> None:
    record = OrderRecord("42", "A1", "EURUSD", Side.BUY, D(1), D(100000), False)

    view = order_view(record, [], running=False)

    assert view.status is OrderStatus.REJECTED
    assert view.reject_reason == Reason.NO_LIQUIDITY


def test_order_view_when_attempt_held_then_unknown() -> None:
    record = OrderRecord("42", "A1", "EURUSD", Side.BUY, D(1), D(100000), False)

    view = order_view(record, [attempt(status=AttemptStatus.UNKNOWN)], running=False)

    assert view.status is OrderStatus.UNKNOWN
    assert view.reject_reason == Reason.LP_TIMEOUT


def test_business_reject_when_attempt_open_then_rejected_and_final_stays() -> None:
    rejected = reject(attempt(), Reason.LP_REJECTED, "not allowed", NOW)

    assert rejected is not None
    assert rejected.status is AttemptStatus.REJECTED
    assert rejected.reject_message == "not allowed"
    assert reject(rejected, Reason.LP_REJECTED, "again", NOW) is None
