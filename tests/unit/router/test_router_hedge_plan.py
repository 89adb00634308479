"""The pure parts of auto-hedging: how much to hedge, and how house trades join the book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bbook import BookFill, HouseBook, Side
from router.hedge_store import HEDGE_ACCOUNT, book_fill
from router.hedging import is_hedge, merged, plan

D = Decimal
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("net", "open_hedges", "limit", "expected"),
    [
        # The house long 3 against a limit of 1: sell 2.
        (D(3), D(0), D(1), (Side.SELL, D("2.00"))),
        # Short 12.5: buy the 2.5 beyond 10.
        (D("-12.5"), D(0), D(10), (Side.BUY, D("2.50"))),
        # Within the limit, or exactly at it: nothing.
        (D("0.5"), D(0), D(1), None),
        (D(-1), D(0), D(1), None),
        # No limit for the symbol: nothing, however large the net.
        (D(1000), D(0), None, None),
        # An open hedge already covers the excess: nothing more.
        (D(3), D(-2), D(1), None),
        # An open hedge covers part of it: the rest.
        (D(3), D("-1.5"), D(1), (Side.SELL, D("0.50"))),
        # The excess rounds up to the lot step (0.01): the house ends within the limit.
        (D("1.001"), D(0), D(1), (Side.SELL, D("0.01"))),
    ],
)
def test_plan_when_house_net_and_open_hedges_then_hedges_the_excess_rounded_up(
    net: Decimal,
    open_hedges: Decimal,
    limit: Decimal | None,
    expected: tuple[Side, Decimal] | None,
) -> None:
    assert plan(net, open_hedges, limit, D("0.01")) == expected


def test_plan_when_lot_step_is_coarse_then_volume_is_a_multiple_of_it() -> None:
    assert plan(D("3.2"), D(0), D(1), D("0.5")) == (Side.SELL, D("2.5"))


def test_book_fill_when_house_buys_then_house_net_grows_long_and_it_is_a_hedge() -> None:
    fill = book_fill(
        trade_id="FXM1-1/E1",
        hedge_id=7,
        symbol="EURUSD",
        side=Side.BUY,
        volume=D(2),
        price=D("1.1"),
        contract_size=D(100_000),
        quote_to_usd_rate=D(1),
        traded_at=T0,
    )
    book = HouseBook()
    book.apply(fill)

    assert book.net_lots("EURUSD") == D(2)
    assert (fill.order_id, fill.account_id) == ("HEDGE-7", HEDGE_ACCOUNT)
    assert is_hedge(fill)


def client(fill_id: str, minutes: int) -> BookFill:
    return BookFill(
        fill_id=fill_id,
        order_id=fill_id,
        account_id="1001",
        symbol="EURUSD",
        client_side=Side.BUY,
        volume=D(1),
        price=D("1.1"),
        contract_size=D(100_000),
        quote_to_usd_rate=D(1),
        filled_at=T0 + timedelta(minutes=minutes),
    )


def test_merged_when_rebuilding_then_time_order_and_each_list_keeps_its_own_order() -> None:
    hedge = book_fill(
        trade_id="h",
        hedge_id=1,
        symbol="EURUSD",
        side=Side.BUY,
        volume=D(1),
        price=D("1.1"),
        contract_size=D(100_000),
        quote_to_usd_rate=D(1),
        traded_at=T0 + timedelta(minutes=2),
    )
    fills = merged([client("a", 1), client("b", 3)], [hedge])

    assert [f.fill_id for f in fills] == ["a", "h", "b"]
    assert not is_hedge(fills[0])
