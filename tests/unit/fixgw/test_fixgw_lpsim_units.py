"""Pure parts of the LP simulator and the tick forwarder's conflation."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from fixgw.domain import RawTick
from fixgw.forwarder import TickForwarder
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
