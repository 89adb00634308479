"""The authenticated account: live summary, positions, orders, trades (deals), ledger, statement.

Lists page backwards in time (newest first): pass the answer's ``nextPageToken`` as ``pageToken``
with the same filters for the next page; it is null on the last page. Times are ISO-8601 UTC
(``2026-03-02T10:00:00Z``, or a date for midnight UTC) and ranges are ``[from, to)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from edge.calls import call_json
from edge.convert import timestamp_pb
from edge.deps import Client, Resources
from edge.openapi import responses
from edge.schemas import OrdersQuery, PageQuery, TimeRangeQuery, statement_period
from fxmesh.v1 import oms_pb2

router = APIRouter(prefix="/api/account", tags=["account"])
_VIEWS = {"open": oms_pb2.ORDER_LIST_VIEW_OPEN, "history": oms_pb2.ORDER_LIST_VIEW_HISTORY}


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


# The statement's default period follows this clock; tests replace it.
clock: Callable[[], datetime] = utc_now


def _range_kwargs(query: TimeRangeQuery) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if query.from_time is not None:
        kwargs["from_time"] = timestamp_pb(query.from_time)
    if query.to_time is not None:
        kwargs["to_time"] = timestamp_pb(query.to_time)
    return kwargs


def _page_kwargs(query: PageQuery) -> dict[str, Any]:
    return {
        **_range_kwargs(query),
        "page_size": query.page_size or 0,
        "page_token": query.page_token or "",
    }


@router.get(
    "/summary",
    summary="Account figures",
    response_model=None,
    responses=responses(oms_pb2.GetAccountSummaryResponse),
)
async def account_summary(client: Client, res: Resources) -> dict[str, Any]:
    """Balance, equity, margin, free margin and margin level (decimal strings)."""
    request = oms_pb2.GetAccountSummaryRequest(account_id=client.subject)
    return await call_json(res, res.oms.GetAccountSummary, request)


@router.get(
    "/positions",
    summary="Open positions",
    response_model=None,
    responses=responses(oms_pb2.ListPositionsResponse),
)
async def account_positions(client: Client, res: Resources) -> dict[str, Any]:
    """Open positions marked to the current quotes."""
    request = oms_pb2.ListPositionsRequest(account_id=client.subject)
    return await call_json(res, res.oms.ListPositions, request)


@router.get(
    "/orders",
    summary="Working orders or order history",
    response_model=None,
    responses=responses(oms_pb2.ListOrdersResponse),
)
async def account_orders(
    query: Annotated[OrdersQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """``view=open`` (default): orders not yet final; ``view=history``: every order created in
    [from, to)."""
    request = oms_pb2.ListOrdersRequest(
        account_id=client.subject, view=_VIEWS[query.view], **_page_kwargs(query)
    )
    return await call_json(res, res.oms.ListOrders, request)


@router.get(
    "/trades",
    summary="Deals (trades)",
    response_model=None,
    responses=responses(oms_pb2.ListDealsResponse),
)
async def account_trades(
    query: Annotated[PageQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """Every fill applied to the account in [from, to): price, volume, entry (IN/OUT/INOUT/
    OUT_BY), commission, swap, realized P&L, reason."""
    request = oms_pb2.ListDealsRequest(account_id=client.subject, **_page_kwargs(query))
    return await call_json(res, res.oms.ListDeals, request)


@router.get(
    "/ledger",
    summary="Balance changes",
    response_model=None,
    responses=responses(oms_pb2.ListLedgerResponse),
)
async def account_ledger(
    query: Annotated[PageQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """Ledger entries in [from, to): deposits, withdrawals, commission, swap, realized P&L,
    bonuses and adjustments, each with balanceBefore and balanceAfter."""
    request = oms_pb2.ListLedgerRequest(account_id=client.subject, **_page_kwargs(query))
    return await call_json(res, res.oms.ListLedger, request)


@router.get(
    "/statement",
    summary="Account statement",
    response_model=None,
    responses=responses(oms_pb2.GetStatementResponse),
)
async def account_statement(
    query: Annotated[TimeRangeQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """Opening and closing balance, totals by ledger type and the deals of [from, to), plus open
    positions and live figures. Default period: the current calendar month (UTC); only ``from``:
    to the end of its month; only ``to``: from the start of the month it ends."""
    start, end = statement_period(query, clock())
    request = oms_pb2.GetStatementRequest(
        account_id=client.subject, from_time=timestamp_pb(start), to_time=timestamp_pb(end)
    )
    return await call_json(res, res.oms.GetStatement, request)
