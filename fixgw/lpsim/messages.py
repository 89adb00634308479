"""FIX 4.4 messages the simulator sends, built from strings only (``fixmsg.set_str``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44

from fixgw.fixmsg import set_str
from fixgw.lpsim.orders import BUY, SimOrder

BOOK_SIZE = "1000000"


def now_fix() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def execution_report(
    order: SimOrder,
    exec_id: str,
    exec_type: str,
    *,
    last_qty: Decimal | None = None,
    last_px: Decimal | None = None,
    cl_ord_id: str | None = None,
    orig_cl_ord_id: str | None = None,
    status_req_id: str | None = None,
    custom_tags: Mapping[int, str] | None = None,
    transact_time: str | None = None,
) -> fix.Message:
    """A 35=8 carrying the order's current OrdStatus, CumQty, LeavesQty and AvgPx."""
    msg = fix44.ExecutionReport()
    set_str(msg, 37, order.order_id)
    set_str(msg, 17, exec_id)
    set_str(msg, 150, exec_type)
    set_str(msg, 39, order.status)
    set_str(msg, 11, cl_ord_id or order.cl_ord_id)
    if orig_cl_ord_id:
        set_str(msg, 41, orig_cl_ord_id)
    if status_req_id:
        set_str(msg, 790, status_req_id)
    set_str(msg, 55, order.wire_symbol or "UNKNOWN")
    set_str(msg, 54, order.side or BUY)
    set_str(msg, 40, order.ord_type)
    if order.tif:
        set_str(msg, 59, order.tif)
    if order.qty is not None:
        set_str(msg, 38, order.qty)
    if order.price is not None:
        set_str(msg, 44, order.price)
    set_str(msg, 151, order.leaves_qty)
    set_str(msg, 14, order.cum_qty)
    set_str(msg, 6, order.avg_px)
    if last_qty is not None:
        set_str(msg, 32, last_qty)
    if last_px is not None:
        set_str(msg, 31, last_px)
    if order.text:
        set_str(msg, 58, order.text)
    if order.rej_reason and order.status == "8":
        set_str(msg, 103, order.rej_reason)
    set_str(msg, 60, transact_time or now_fix())
    for tag, value in (custom_tags or {}).items():
        set_str(msg, tag, value)
    return msg


def unknown_order_status(
    cl_ord_id: str, symbol: str, side: str, exec_id: str, status_req_id: str | None
) -> fix.Message:
    """The answer to a 35=H for an order we never saw: ExecType I, OrdStatus 8, OrdRejReason 5."""
    msg = fix44.ExecutionReport()
    set_str(msg, 37, "NONE")
    set_str(msg, 17, exec_id)
    set_str(msg, 150, "I")
    set_str(msg, 39, "8")
    set_str(msg, 11, cl_ord_id)
    if status_req_id:
        set_str(msg, 790, status_req_id)
    set_str(msg, 55, symbol or "UNKNOWN")
    set_str(msg, 54, side or BUY)
    set_str(msg, 151, "0")
    set_str(msg, 14, "0")
    set_str(msg, 6, "0")
    set_str(msg, 103, "5")  # unknown order
    set_str(msg, 58, "unknown order")
    set_str(msg, 60, now_fix())
    return msg


def cancel_reject(
    cl_ord_id: str, orig_cl_ord_id: str, order_id: str, ord_status: str, reason: str, text: str
) -> fix.Message:
    """A 35=9 answering an OrderCancelRequest (CxlRejReason 0 too late, 1 unknown order)."""
    reject = fix44.OrderCancelReject()
    set_str(reject, 37, order_id)
    set_str(reject, 11, cl_ord_id)
    set_str(reject, 41, orig_cl_ord_id)
    set_str(reject, 39, ord_status)
    set_str(reject, 434, "1")  # response to an OrderCancelRequest
    set_str(reject, 102, reason)
    set_str(reject, 58, text)
    return reject


def business_reject(ref_seq_num: int, ref_id: str, text: str) -> fix.Message:
    """A 35=j refusing a NewOrderSingle (RefMsgType D, BusinessRejectRefID = its ClOrdID)."""
    msg = fix44.BusinessMessageReject()
    set_str(msg, 45, ref_seq_num)
    set_str(msg, 372, "D")
    set_str(msg, 379, ref_id)
    set_str(msg, 380, "0")  # other
    set_str(msg, 58, text)
    return msg


def session_reject(ref_seq_num: int, text: str) -> fix.Message:
    """A session-level 35=3 refusing the NewOrderSingle with MsgSeqNum ``ref_seq_num``."""
    msg = fix44.Reject()
    set_str(msg, 45, ref_seq_num)
    set_str(msg, 372, "D")
    set_str(msg, 373, "99")  # other
    set_str(msg, 58, text)
    return msg


def md_reject(req_id: str, text: str) -> fix.Message:
    reject = fix44.MarketDataRequestReject()
    set_str(reject, 262, req_id)
    set_str(reject, 281, "0")  # UNKNOWN_SYMBOL
    set_str(reject, 58, text)
    return reject


def snapshot(req_id: str, symbol: str, bid: Decimal, ask: Decimal) -> fix.Message:
    msg = fix44.MarketDataSnapshotFullRefresh()
    set_str(msg, 262, req_id)
    set_str(msg, 55, symbol)
    for entry_type, px in (("0", bid), ("1", ask)):
        group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
        set_str(group, 269, entry_type)
        set_str(group, 270, px)
        set_str(group, 271, BOOK_SIZE)
        msg.addGroup(group)
    return msg


def depth_snapshot(
    req_id: str,
    symbol: str,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
) -> fix.Message:
    """A full refresh with several levels per side, best first, each with its size."""
    msg = fix44.MarketDataSnapshotFullRefresh()
    set_str(msg, 262, req_id)
    set_str(msg, 55, symbol)
    for entry_type, levels in (("0", bids), ("1", asks)):
        for px, size in levels:
            group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
            set_str(group, 269, entry_type)
            set_str(group, 270, px)
            set_str(group, 271, size)
            msg.addGroup(group)
    return msg


def incremental(req_id: str, symbol: str, bid: Decimal, ask: Decimal) -> fix.Message:
    msg = fix44.MarketDataIncrementalRefresh()
    set_str(msg, 262, req_id)
    for entry_type, px in (("0", bid), ("1", ask)):
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        set_str(group, 279, "1")  # CHANGE
        set_str(group, 269, entry_type)
        set_str(group, 55, symbol)
        set_str(group, 270, px)
        set_str(group, 271, BOOK_SIZE)
        msg.addGroup(group)
    return msg
