"""A-book pricing: markup policy, the LP worst price, fills beyond the limit, reject reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from bbook import Side
from fxmesh.errors import InvalidArgument
from fxmesh.quotecache import ClientQuote
from fxmesh.v1 import fixgw_pb2, router_pb2, types_pb2
from router import convert
from router.abook import (
    PASS_THROUGH_MARKUP,
    LpExecution,
    LpFill,
    LpStatus,
    Markup,
    client_worst_price,
    lp_worst_price,
    price_fills,
    reject_message,
    reject_reason,
)
from router.abook_desk import close_decision
from router.domain import Book
from router.fixgw_client import lp_execution

D = Decimal
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LP_TIME = datetime(2026, 3, 2, 11, 59, 59, 500000, tzinfo=UTC)


def quote(markup_bid: str | None = "0.00003", markup_ask: str | None = "0.00002") -> ClientQuote:
    return ClientQuote(
        "EURUSD",
        D("1.08447"),
        D("1.08462"),
        1_700_000_000_000,
        markup_bid=D(markup_bid) if markup_bid is not None else None,
        markup_ask=D(markup_ask) if markup_ask is not None else None,
    )


def lp_fill(price: str, volume: str = "1", exec_id: str = "E1") -> LpFill:
    return LpFill(
        lp="LP1",
        lp_order_id="LPO-7",
        exec_id=exec_id,
        cl_ord_id="FXM42-1",
        price=D(price),
        volume=D(volume),
        transact_time=LP_TIME,
        receive_time=NOW,
    )


# --- markup policy -----------------------------------------------------------------------------


def test_markup_when_buy_then_client_pays_lp_price_plus_markup_ask() -> None:
    markup = Markup.of_quote(quote())

    assert markup.client_price(Side.BUY, D("1.08460")) == D("1.08462")


def test_markup_when_sell_then_client_gets_lp_price_minus_markup_bid() -> None:
    markup = Markup.of_quote(quote())

    assert markup.client_price(Side.SELL, D("1.08450")) == D("1.08447")


def test_markup_when_lp_price_has_extra_digit_then_rounded_against_client_to_quote_places() -> None:
    markup = Markup.of_quote(quote())

    assert markup.client_price(Side.BUY, D("1.084601")) == D("1.08463")
    assert markup.client_price(Side.SELL, D("1.084509")) == D("1.08447")


def test_pass_through_when_any_side_then_client_gets_lp_price_exactly() -> None:
    assert PASS_THROUGH_MARKUP.client_price(Side.BUY, D("1.084601")) == D("1.084601")
    assert PASS_THROUGH_MARKUP.client_price(Side.SELL, D("1.08450")) == D("1.08450")


def test_markup_when_quote_document_predates_markup_fields_then_zero_markup() -> None:
    markup = Markup.of_quote(quote(None, None))

    assert markup.client_price(Side.BUY, D("1.08460")) == D("1.08460")


def test_quote_document_when_markup_written_then_read_back_exactly() -> None:
    original = quote()

    again = ClientQuote.from_json(original.to_json())

    assert again == original
    assert '"markupAsk":"0.00002"' in original.to_json()


def test_quote_document_when_markup_absent_then_reads_as_none() -> None:
    raw = '{"symbol":"EURUSD","bid":"1.08447","ask":"1.08462","ts":1,"source":"fxmesh"}'

    parsed = ClientQuote.from_json(raw)

    assert (parsed.markup_bid, parsed.markup_ask) == (None, None)


# --- worst prices --------------------------------------------------------------------------------


def test_client_worst_when_buy_with_deviation_and_limit_then_lowest_bound() -> None:
    worst = client_worst_price(
        Side.BUY,
        requested_price=D("1.08460"),
        max_deviation=D("0.00010"),
        limit_price=D("1.08465"),
    )

    assert worst == D("1.08465")


def test_client_worst_when_sell_with_deviation_then_requested_minus_deviation() -> None:
    worst = client_worst_price(
        Side.SELL, requested_price=D("1.08450"), max_deviation=D("0.00005"), limit_price=None
    )

    assert worst == D("1.08445")


def test_client_worst_when_no_constraint_then_none_and_no_lp_worst() -> None:
    worst = client_worst_price(
        Side.BUY, requested_price=D("1.08460"), max_deviation=None, limit_price=None
    )

    assert worst is None
    assert lp_worst_price(Side.BUY, worst, Markup.of_quote(quote())) is None


def test_lp_worst_when_buy_then_markup_ask_taken_off_the_client_bound() -> None:
    assert lp_worst_price(Side.BUY, D("1.08470"), Markup.of_quote(quote())) == D("1.08468")


def test_lp_worst_when_sell_then_markup_bid_added_to_the_client_bound() -> None:
    assert lp_worst_price(Side.SELL, D("1.08440"), Markup.of_quote(quote())) == D("1.08443")


def test_lp_fill_when_at_lp_worst_then_client_price_is_exactly_client_worst() -> None:
    markup = Markup.of_quote(quote())
    lp_worst = lp_worst_price(Side.BUY, D("1.08470"), markup)
    assert lp_worst is not None

    assert markup.client_price(Side.BUY, lp_worst) == D("1.08470")


# --- fills ---------------------------------------------------------------------------------------


def test_price_fills_when_within_limit_then_client_fill_carries_lp_details() -> None:
    priced = price_fills(
        [lp_fill("1.08460")],
        order_id="42",
        account_id="1001",
        symbol="EURUSD",
        side=Side.BUY,
        markup=Markup.of_quote(quote()),
        client_worst=D("1.08470"),
        now=NOW,
    )

    [fill] = priced.fills
    assert priced.beyond_limit == ()
    assert (fill.fill_id, fill.price, fill.lp_price, fill.volume) == (
        "FXM42-1/E1",
        D("1.08462"),
        D("1.08460"),
        D("1"),
    )
    client = fill.client_fill()
    assert (client.book, client.venue, client.venue_order_id, client.venue_price) == (
        Book.A,
        "LP1",
        "LPO-7",
        D("1.08460"),
    )
    assert client.fill_time == LP_TIME


def test_price_fills_when_lp_filled_beyond_its_limit_then_booked_at_client_worst() -> None:
    priced = price_fills(
        [lp_fill("1.08475")],
        order_id="42",
        account_id="1001",
        symbol="EURUSD",
        side=Side.BUY,
        markup=Markup.of_quote(quote()),
        client_worst=D("1.08470"),
        now=NOW,
    )

    assert [f.exec_id for f in priced.beyond_limit] == ["E1"]
    assert priced.fills[0].price == D("1.08470")
    assert priced.fills[0].lp_price == D("1.08475")


def test_price_fills_when_lp_sent_no_transact_time_then_receive_time() -> None:
    fill = LpFill("LP1", "O", "E", "C-1", D("1.1"), D("1"), None, NOW)

    priced = price_fills(
        [fill],
        order_id="42",
        account_id="1001",
        symbol="EURUSD",
        side=Side.SELL,
        markup=PASS_THROUGH_MARKUP,
        client_worst=None,
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )

    assert priced.fills[0].filled_at == NOW


# --- reject reasons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lp_reason", "has_limit", "expected"),
    [
        ("LP_EXPIRED", True, "LIMIT_NOT_REACHED"),
        ("LP_EXPIRED", False, "LP_EXPIRED"),
        ("NO_LIQUIDITY", True, "NO_LIQUIDITY"),
        ("LP_REJECTED", False, "LP_REJECTED"),
        ("", False, "LP_REJECTED"),
    ],
)
def test_reject_reason_when_lp_reason_then_mapped_for_oms(
    lp_reason: str, has_limit: bool, expected: str
) -> None:
    assert reject_reason(lp_reason, has_limit_price=has_limit) == expected


def test_reject_message_when_lp_gave_text_then_passed_through() -> None:
    execution = LpExecution(
        "42", LpStatus.REJECTED, reject_reason="LP_REJECTED", reject_message="Unknown symbol"
    )

    assert reject_message(execution, "EURUSD", None) == "Unknown symbol"


# --- fixgw answers -------------------------------------------------------------------------------


def test_lp_execution_when_filled_then_fills_read_from_strings() -> None:
    stamp = Timestamp()
    stamp.FromDatetime(LP_TIME)
    message = fixgw_pb2.LpExecution(
        order_id="42",
        status=fixgw_pb2.LP_ORDER_STATUS_PARTIALLY_FILLED,
        fills=[
            fixgw_pb2.LpFill(
                lp="LP1",
                lp_order_id="LPO-7",
                exec_id="E1",
                cl_ord_id="FXM42-1",
                price="1.084605",
                volume="0.40",
                transact_time=stamp,
            )
        ],
    )

    execution = lp_execution(message)

    assert execution.status is LpStatus.PARTIALLY_FILLED
    assert execution.fills == (
        LpFill("LP1", "LPO-7", "E1", "FXM42-1", D("1.084605"), D("0.40"), LP_TIME, None),
    )


def test_lp_execution_when_filled_without_fills_then_unreadable() -> None:
    message = fixgw_pb2.LpExecution(order_id="42", status=fixgw_pb2.LP_ORDER_STATUS_FILLED)

    with pytest.raises(ValueError, match="without fills"):
        lp_execution(message)


def test_lp_execution_when_status_unspecified_then_unreadable() -> None:
    with pytest.raises(ValueError, match="UNSPECIFIED"):
        lp_execution(fixgw_pb2.LpExecution(order_id="42"))


# --- closes follow the venue -----------------------------------------------------------------


def close_request(book: types_pb2.Book.ValueType, venue: str) -> router_pb2.ExecuteRequest:
    return router_pb2.ExecuteRequest(
        order=types_pb2.Order(
            order_id="o-1",
            account_id="1001",
            symbol="EURUSD",
            side=types_pb2.SIDE_SELL,
            volume="1",
            position_id="9",
        ),
        contract_size="100000",
        quote_to_usd_rate="1",
        close_book=book,
        close_venue=venue,
    )


def test_close_when_position_at_lp_then_a_book_to_that_venue() -> None:
    command = convert.execute_command(close_request(types_pb2.BOOK_A, " LP2 "), None)

    decision = close_decision(command)

    assert (command.close_book, command.close_venue) == (Book.A, "LP2")
    assert decision is not None
    assert (decision.book, decision.reason) == (Book.A, "CLOSE_FOLLOWS_VENUE")


def test_close_when_position_in_house_then_b_book() -> None:
    decision = close_decision(
        convert.execute_command(close_request(types_pb2.BOOK_B, "BBOOK"), None)
    )

    assert decision is not None
    assert decision.book is Book.B


def test_close_when_no_close_book_then_rules_decide() -> None:
    command = convert.execute_command(close_request(types_pb2.BOOK_UNSPECIFIED, ""), None)

    assert close_decision(command) is None


def test_close_when_a_book_without_venue_then_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert.execute_command(close_request(types_pb2.BOOK_A, ""), None)

    assert caught.value.metadata == {"field": "close_venue"}
