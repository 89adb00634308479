"""Pure parts of the LP simulator and the tick forwarder's conflation."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from fixgw.domain import RawTick
from fixgw.forwarder import TickForwarder
from fixgw.lpsim.knobs import OrderStyle
from fixgw.lpsim.orders import (
    BUY,
    SELL,
    IllegalTransition,
    SimOrder,
    fill_price,
    immediate_quantity,
    order_style,
    within_limit,
)
from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.simulator import split_quantity
from fixgw.lpsim.streams import StreamSpec

EURUSD = PriceSpec("EURUSD", 5, Decimal("1.08450"), 1, Decimal("0.07"))
BTCUSD = PriceSpec("BTCUSD", 2, Decimal("67000.00"), 1000, Decimal("0.60"))


def test_price_book_when_walking_then_prices_stay_on_digits_with_configured_spread() -> None:
    book = PriceBook([EURUSD, BTCUSD], random.Random(1))

    for _ in range(500):
        book.step(0.1)

    for spec in (EURUSD, BTCUSD):
        price = book.get(spec.symbol)
        assert price.bid.as_tuple().exponent == -spec.digits
        assert price.ask - price.bid == 2 * spec.half_spread_points * spec.point
        assert price.bid > 0


def test_price_book_when_price_set_then_exact_and_validated() -> None:
    book = PriceBook([EURUSD], random.Random(1))

    book.set_price("EURUSD", Decimal("1.20001"), Decimal("1.20013"))

    assert (book.get("EURUSD").bid, book.get("EURUSD").ask) == (
        Decimal("1.20001"),
        Decimal("1.20013"),
    )
    with pytest.raises(ValueError, match="bid"):
        book.set_price("EURUSD", Decimal("1.3"), Decimal("1.2"))


@pytest.mark.parametrize(
    ("qty", "parts", "expected"),
    [
        ("100000", 3, ["33333", "33333", "33334"]),
        ("0.10", 3, ["0.03", "0.03", "0.04"]),
        ("1000", 1, ["1000"]),
        ("1", 5, ["1"]),
    ],
)
def test_split_quantity_when_partial_fills_then_pieces_sum_to_quantity(
    qty: str, parts: int, expected: list[str]
) -> None:
    pieces = split_quantity(Decimal(qty), parts)
    assert [str(p) for p in pieces] == expected
    assert sum(pieces) == Decimal(qty)


def _tick(symbol: str, bid: str) -> RawTick:
    from datetime import UTC, datetime

    return RawTick(symbol, Decimal(bid), Decimal(bid) + 1, datetime.now(UTC), "LPSIM", 0.0)


def test_forwarder_when_backed_up_then_keeps_only_latest_tick_per_symbol() -> None:
    forwarder = TickForwarder(lambda: None)  # type: ignore[arg-type, return-value]

    forwarder.submit(_tick("EURUSD", "1.1"))
    forwarder.submit(_tick("GBPUSD", "1.3"))
    forwarder.submit(_tick("EURUSD", "1.2"))

    batch = forwarder._take()
    assert [(t.symbol, t.bid) for t in batch] == [
        ("GBPUSD", Decimal("1.3")),
        ("EURUSD", Decimal("1.2")),
    ]


def _stream(rate: float = 100.0, first_seq: int = 0) -> StreamSpec:
    return StreamSpec(
        symbol="EURUSD",
        ticks_per_second=rate,
        pattern="ramp",
        first_seq=first_seq,
        start_time=1000.0,
        bid=Decimal("1.08000"),
        ask=Decimal("1.08002"),
        step=Decimal("0.00001"),
        cycle=1000,
    )


def test_stream_plan_when_on_time_then_sends_exactly_the_ticks_due() -> None:
    spec = _stream(rate=100.0, first_seq=10)

    assert spec.plan(10, 999.99) == (10, 9, 0)  # nothing due before the start
    assert spec.plan(10, 1000.0) == (10, 10, 0)
    assert spec.plan(11, 1000.035) == (11, 13, 0)  # 10 ms apart: seq 11, 12, 13 due by 35 ms


def test_stream_plan_when_far_behind_then_too_late_ticks_skipped_not_burst() -> None:
    spec = _stream(rate=100.0)

    first, last, skipped = spec.plan(0, 1000.0 + 5.0)  # 5 s behind: ticks 0..500 are due

    assert last == 500
    assert first == 400  # only the last second's ticks are still worth sending
    assert skipped == 400


def test_stream_ramp_price_when_seq_passes_cycle_then_wraps_to_the_base() -> None:
    spec = _stream()

    assert spec.ramp_price(0) == (Decimal("1.08000"), Decimal("1.08002"))
    assert spec.ramp_price(999) == (Decimal("1.08999"), Decimal("1.09001"))
    assert spec.ramp_price(1001) == (Decimal("1.08001"), Decimal("1.08003"))
    with pytest.raises(ValueError, match="ticksPerSecond"):
        _stream(rate=0.0)


# -- knobs and the order model ------------------------------------------------------------------


def test_sim_config_when_changed_then_validated_and_typed() -> None:
    from fixgw.lpsim.knobs import SimConfig

    config = SimConfig().changed(
        fill_ratio="0.25", accepted_styles=["LIMIT_IOC"], custom_tags={"5001": "x"}
    )

    assert config.fill_ratio == Decimal("0.25")
    assert config.accepted_styles == ("LIMIT_IOC",)
    assert config.custom_tags == {5001: "x"}
    assert config.as_json()["fillRatio"] == "0.25"
    for bad in (
        {"fill_ratio": "1.01"},
        {"accepted_styles": ["STOP"]},
        {"expire_exec_type": "9"},
        {"custom_tags": {"44": "x"}},
        {"symbol_map": {"A": "X", "B": "X"}},
        {"nope": 1},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each names its own problem
            SimConfig().changed(**bad)


def test_fault_queue_when_faults_queued_then_taken_first_in_first_out() -> None:
    from fixgw.lpsim.knobs import Fault, FaultQueue

    queue = FaultQueue()
    queue.add(Fault("reject", "no"), 2)
    queue.add(Fault("silence", late_ms=10), 1)

    taken = [queue.take() for _ in range(4)]

    assert [f.kind if f else None for f in taken] == ["reject", "reject", "silence", None]
    with pytest.raises(ValueError, match="lateMs"):
        queue.add(Fault("reject", late_ms=5), 1)
    with pytest.raises(ValueError, match="forget"):
        queue.add(Fault("silence", late_ms=5, forget=True), 1)


def _order(qty: str = "100000", ord_type: str = "2", tif: str = "3") -> SimOrder:
    return SimOrder(
        session="s",
        cl_ord_id="c",
        order_id="o",
        symbol="EURUSD",
        wire_symbol="EURUSD",
        side=BUY,
        qty=Decimal(qty),
        ord_type=ord_type,
        price=Decimal("1.10020"),
        tif=tif,
    )


def test_sim_order_when_partly_filled_then_expired_then_cum_avg_and_status_kept() -> None:
    order = _order()
    order.accept()

    order.fill("E1", Decimal("30000"), Decimal("1.10010"))
    order.fill("E2", Decimal("10000"), Decimal("1.10014"))
    order.expire("C", "IOC remainder expired")

    assert order.status == "C"
    assert order.cum_qty == Decimal("40000")
    assert order.leaves_qty == 0
    assert order.avg_px == Decimal("1.10011")
    with pytest.raises(IllegalTransition, match="'C' cannot fill"):
        order.fill("E3", Decimal("1"), Decimal("1.1"))


def test_sim_order_when_overfilled_or_filled_before_accepted_then_refused() -> None:
    order = _order(qty="10")
    with pytest.raises(IllegalTransition):
        order.fill("E1", Decimal("1"), Decimal("1.1"))
    order.accept()
    with pytest.raises(ValueError, match="exceeds"):
        order.fill("E1", Decimal("11"), Decimal("1.1"))


@pytest.mark.parametrize(
    ("qty", "style", "ratio", "expected"),
    [
        ("100000", "LIMIT_IOC", "0.4", "40000"),
        ("3", "MARKET", "0.5", "1"),
        ("0.10", "MARKET", "0.5", "0.05"),
        ("100000", "LIMIT_FOK", "0.99", "0"),
        ("100000", "LIMIT_FOK", "1", "100000"),
        ("100000", "LIMIT", "0.1", "100000"),
    ],
)
def test_immediate_quantity_when_fill_ratio_then_rounded_down_at_quantity_precision(
    qty: str, style: OrderStyle, ratio: str, expected: str
) -> None:
    assert str(immediate_quantity(Decimal(qty), style, Decimal(ratio))) == expected


def test_fill_price_when_slippage_then_worse_for_each_side_and_limit_checked() -> None:
    bid, ask, slip = Decimal("1.10001"), Decimal("1.10013"), Decimal("0.00003")

    assert fill_price(BUY, bid, ask, slip) == Decimal("1.10016")
    assert fill_price(SELL, bid, ask, slip) == Decimal("1.09998")
    assert within_limit(BUY, Decimal("1.10016"), Decimal("1.10016"))
    assert not within_limit(BUY, Decimal("1.10016"), Decimal("1.10015"))
    assert not within_limit(SELL, Decimal("1.09998"), Decimal("1.09999"))
    assert order_style("1", "0") == "MARKET"
    assert order_style("2", "4") == "LIMIT_FOK"
    assert order_style("3", "0") is None
