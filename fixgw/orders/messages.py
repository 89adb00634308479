"""The FIX 4.4 messages of the order flow, built field by field from strings (never floats)."""

from __future__ import annotations

from datetime import UTC, datetime

import quickfix44 as fix44

from fixgw.config import OrderStyle
from fixgw.fixmsg import set_str
from fixgw.orders.domain import Attempt, plain

MARKET, LIMIT = "1", "2"  # OrdType (40)
IOC, FOK = "3", "4"  # TimeInForce (59)

_TERMS = {
    OrderStyle.MARKET: (MARKET, IOC),  # a market order never rests: IOC
    OrderStyle.LIMIT_IOC: (LIMIT, IOC),
    OrderStyle.LIMIT_FOK: (LIMIT, FOK),
}


def fix_time(when: datetime) -> str:
    """A UTCTimestamp with milliseconds."""
    return when.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def new_order_single(attempt: Attempt, when: datetime) -> fix44.NewOrderSingle:
    """35=D of an attempt: its ClOrdID, the LP's symbol, quantity in the LP's unit, its terms."""
    ord_type, tif = _TERMS[attempt.style]
    msg = fix44.NewOrderSingle()
    set_str(msg, 11, attempt.cl_ord_id)
    set_str(msg, 55, attempt.lp_symbol)
    set_str(msg, 54, attempt.side.fix)
    set_str(msg, 60, fix_time(when))
    set_str(msg, 38, plain(attempt.lp_qty))
    set_str(msg, 40, ord_type)
    set_str(msg, 59, tif)
    if ord_type == LIMIT:
        if attempt.limit_price is None:
            raise ValueError(f"{attempt.cl_ord_id}: a limit order needs a price")
        set_str(msg, 44, plain(attempt.limit_price))
    return msg


def order_status_request(attempt: Attempt, request_id: str) -> fix44.OrderStatusRequest:
    """35=H for an attempt (OrdStatusReqID 790 = ``request_id``)."""
    msg = fix44.OrderStatusRequest()
    set_str(msg, 11, attempt.cl_ord_id)
    if attempt.lp_order_id:
        set_str(msg, 37, attempt.lp_order_id)
    set_str(msg, 790, request_id)
    set_str(msg, 55, attempt.lp_symbol)
    set_str(msg, 54, attempt.side.fix)
    return msg


def order_cancel_request(
    attempt: Attempt, cancel_id: str, when: datetime
) -> fix44.OrderCancelRequest:
    """35=F for an attempt; ``cancel_id`` is the request's own ClOrdID."""
    msg = fix44.OrderCancelRequest()
    set_str(msg, 41, attempt.cl_ord_id)
    set_str(msg, 11, cancel_id)
    if attempt.lp_order_id:
        set_str(msg, 37, attempt.lp_order_id)
    set_str(msg, 55, attempt.lp_symbol)
    set_str(msg, 54, attempt.side.fix)
    set_str(msg, 60, fix_time(when))
    set_str(msg, 38, plain(attempt.lp_qty))
    return msg
