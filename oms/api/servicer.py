"""grpc.aio servicer of fxmesh.v1.OmsService: convert, call ``OmsService``, convert back.

Every RPC passes admission control first (``fxmesh.admission``), in the lane its decorator names:
closing a position and cancelling an order (CLOSE) are never refused; new orders and other writes
(ORDER) may wait briefly for a slot; reads (READ) are shed first. A refusal is RESOURCE_EXHAUSTED
``OVERLOADED`` with ``retry_after_seconds``, before anything was read or written. The trigger
watcher calls ``OmsService`` in-process and never passes here (SL / TP / stop-out are never shed).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc

from fxmesh.admission import Admission, Lane
from fxmesh.v1 import oms_pb2, oms_pb2_grpc
from oms.api import convert
from oms.api import funds_convert as fconvert
from oms.api import settings_convert as sconvert
from oms.api import trading_convert as tconvert
from oms.domain.results import CloseResult
from oms.trading.service import OmsService

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
_Handler = Callable[["OmsServicer", _Req, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[_Resp]]


def _admitted(lane: Lane) -> Callable[[_Handler[_Req, _Resp]], _Handler[_Req, _Resp]]:
    """Run the RPC holding an admission slot of ``lane`` (none when the servicer has no limits)."""

    def wrap(handler: _Handler[_Req, _Resp]) -> _Handler[_Req, _Resp]:
        @functools.wraps(handler)
        async def admitted(
            self: OmsServicer, request: _Req, context: grpc.aio.ServicerContext[Any, Any]
        ) -> _Resp:
            admission = self._admission
            if admission is None:
                return await handler(self, request, context)
            await admission.acquire(lane)
            try:
                return await handler(self, request, context)
            finally:
                admission.release(lane)

        return admitted

    return wrap


class OmsServicer(oms_pb2_grpc.OmsServiceServicer):
    """Every RPC: parse the request (``oms.api.*convert``), call ``OmsService``, build the reply."""

    def __init__(self, service: OmsService, admission: Admission | None = None) -> None:
        self._service = service
        self._admission = admission

    @_admitted(Lane.ORDER)
    async def PlaceOrder(
        self, request: oms_pb2.PlaceOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.PlaceOrderResponse:
        result = await self._service.place_order(convert.parse_place_order(request))
        return oms_pb2.PlaceOrderResponse(
            order=convert.order_to_proto(result.order),
            fills=[convert.fill_to_proto(f) for f in result.fills],
            positions=[convert.position_to_proto(p) for p in result.positions],
            replayed=result.replayed,
            deals=[convert.deal_to_proto(d) for d in result.deals],
        )

    @_admitted(Lane.READ)
    async def GetOrder(
        self, request: oms_pb2.GetOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetOrderResponse:
        order = await self._service.get_order(
            convert.parse_account_id(request.account_id), convert.parse_order_id(request.order_id)
        )
        return oms_pb2.GetOrderResponse(order=convert.order_to_proto(order))

    @_admitted(Lane.READ)
    async def GetAccountSummary(
        self, request: oms_pb2.GetAccountSummaryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetAccountSummaryResponse:
        summary = await self._service.account_summary(convert.parse_account_id(request.account_id))
        return convert.account_summary_to_proto(summary.account, summary.figures, datetime.now(UTC))

    @_admitted(Lane.READ)
    async def ListPositions(
        self, request: oms_pb2.ListPositionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListPositionsResponse:
        views = await self._service.list_positions(convert.parse_account_id(request.account_id))
        return oms_pb2.ListPositionsResponse(
            positions=[convert.position_to_proto(v) for v in views]
        )

    @_admitted(Lane.READ)
    async def AuthenticateClient(
        self,
        request: oms_pb2.AuthenticateClientRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.AuthenticateClientResponse:
        account_id, login = await self._service.authenticate(request.login, request.password)
        return oms_pb2.AuthenticateClientResponse(account_id=str(account_id), login=login)

    @_admitted(Lane.READ)
    async def ListAccounts(
        self, request: oms_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListAccountsResponse:
        search = fconvert.parse_account_search(request)
        accounts, next_after = await self._service.list_accounts(request.page_size, search)
        return oms_pb2.ListAccountsResponse(
            accounts=[convert.account_to_proto(a) for a in accounts],
            next_page_token=str(next_after) if next_after is not None else "",
        )

    # --- pending orders and positions -------------------------------------------------------------

    @_admitted(Lane.ORDER)
    async def ModifyOrder(
        self, request: oms_pb2.ModifyOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ModifyOrderResponse:
        order = await self._service.modify_order(tconvert.parse_modify_order(request))
        return oms_pb2.ModifyOrderResponse(order=convert.order_to_proto(order))

    @_admitted(Lane.CLOSE)
    async def CancelOrder(
        self, request: oms_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.CancelOrderResponse:
        order = await self._service.cancel_order(
            convert.parse_account_id(request.account_id), convert.parse_order_id(request.order_id)
        )
        return oms_pb2.CancelOrderResponse(order=convert.order_to_proto(order))

    @_admitted(Lane.READ)
    async def ListOrders(
        self, request: oms_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListOrdersResponse:
        orders, token = await self._service.list_orders(tconvert.parse_list_orders(request))
        return oms_pb2.ListOrdersResponse(
            orders=[convert.order_to_proto(o) for o in orders], next_page_token=token
        )

    @_admitted(Lane.CLOSE)
    async def ClosePosition(
        self, request: oms_pb2.ClosePositionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ClosePositionResponse:
        result = await self._service.close_position(tconvert.parse_close_position(request))
        return _close_result(result)

    @_admitted(Lane.CLOSE)
    async def CloseAllPositions(
        self,
        request: oms_pb2.CloseAllPositionsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.CloseAllPositionsResponse:
        results = await self._service.close_all_positions(tconvert.parse_close_all(request))
        return oms_pb2.CloseAllPositionsResponse(results=[_close_result(r) for r in results])

    @_admitted(Lane.CLOSE)
    async def CloseBy(
        self, request: oms_pb2.CloseByRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.CloseByResponse:
        result = await self._service.close_by(tconvert.parse_close_by(request))
        return oms_pb2.CloseByResponse(
            deals=[convert.deal_to_proto(d) for d in result.deals],
            positions=[convert.position_to_proto(v) for v in result.positions],
        )

    @_admitted(Lane.ORDER)
    async def ModifyPosition(
        self, request: oms_pb2.ModifyPositionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ModifyPositionResponse:
        view = await self._service.modify_position(tconvert.parse_modify_position(request))
        return oms_pb2.ModifyPositionResponse(position=convert.position_to_proto(view))

    # --- money: listings, statements, accounts, balance operations, risk tools --------------------

    @_admitted(Lane.READ)
    async def ListDeals(
        self, request: oms_pb2.ListDealsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListDealsResponse:
        page = await self._service.list_deals(
            convert.parse_account_id(request.account_id), fconvert.parse_page(request)
        )
        return fconvert.deal_page_to_proto(page)

    @_admitted(Lane.READ)
    async def ListLedger(
        self, request: oms_pb2.ListLedgerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListLedgerResponse:
        page = await self._service.list_ledger(
            convert.parse_account_id(request.account_id), fconvert.parse_page(request)
        )
        return fconvert.ledger_page_to_proto(page)

    @_admitted(Lane.READ)
    async def GetStatement(
        self, request: oms_pb2.GetStatementRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetStatementResponse:
        account_id = convert.parse_account_id(request.account_id)
        start, end = fconvert.parse_statement_window(request, self._service.now())
        return fconvert.statement_to_proto(await self._service.statement(account_id, start, end))

    @_admitted(Lane.ORDER)
    async def CreateAccount(
        self, request: oms_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.CreateAccountResponse:
        account = await self._service.create_account(fconvert.parse_create_account(request))
        return oms_pb2.CreateAccountResponse(account=convert.account_to_proto(account))

    @_admitted(Lane.ORDER)
    async def UpdateAccount(
        self, request: oms_pb2.UpdateAccountRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.UpdateAccountResponse:
        account = await self._service.update_account(*fconvert.parse_update_account(request))
        return oms_pb2.UpdateAccountResponse(account=convert.account_to_proto(account))

    @_admitted(Lane.ORDER)
    async def PostBalanceOperation(
        self,
        request: oms_pb2.PostBalanceOperationRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.PostBalanceOperationResponse:
        result = await self._service.post_balance_operation(
            fconvert.parse_balance_operation(request)
        )
        return oms_pb2.PostBalanceOperationResponse(
            entry=fconvert.ledger_to_proto(result.entry), replayed=result.replayed
        )

    @_admitted(Lane.ORDER)
    async def PlaceFundsHold(
        self,
        request: oms_pb2.PlaceFundsHoldRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.PlaceFundsHoldResponse:
        result = await self._service.place_hold(fconvert.parse_place_hold(request))
        return oms_pb2.PlaceFundsHoldResponse(
            hold=fconvert.hold_to_proto(result.hold), replayed=result.replayed
        )

    @_admitted(Lane.ORDER)
    async def CaptureFundsHold(
        self,
        request: oms_pb2.CaptureFundsHoldRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.CaptureFundsHoldResponse:
        result = await self._service.capture_hold(
            convert.parse_account_id(request.account_id), fconvert.parse_hold_id(request.hold_id)
        )
        return oms_pb2.CaptureFundsHoldResponse(
            hold=fconvert.hold_to_proto(result.hold),
            entry=fconvert.ledger_to_proto(result.entry) if result.entry is not None else None,
            replayed=result.replayed,
        )

    @_admitted(Lane.ORDER)
    async def ReleaseFundsHold(
        self,
        request: oms_pb2.ReleaseFundsHoldRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.ReleaseFundsHoldResponse:
        result = await self._service.release_hold(
            convert.parse_account_id(request.account_id), fconvert.parse_hold_id(request.hold_id)
        )
        return oms_pb2.ReleaseFundsHoldResponse(
            hold=fconvert.hold_to_proto(result.hold), replayed=result.replayed
        )

    @_admitted(Lane.READ)
    async def CalculateLot(
        self, request: oms_pb2.CalculateLotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.CalculateLotResponse:
        result = await self._service.calculate_lot(fconvert.parse_calculate_lot(request))
        return fconvert.lot_to_proto(result)

    @_admitted(Lane.READ)
    async def PreviewMargin(
        self, request: oms_pb2.PreviewMarginRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.PreviewMarginResponse:
        result = await self._service.preview_margin(fconvert.parse_preview_margin(request))
        return fconvert.preview_to_proto(result)

    # --- symbols ----------------------------------------------------------------------------------

    @_admitted(Lane.READ)
    async def ListSymbols(
        self, request: oms_pb2.ListSymbolsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListSymbolsResponse:
        views = await self._service.list_symbols(convert.parse_symbol_filter(request))
        return oms_pb2.ListSymbolsResponse(symbols=[convert.symbol_to_proto(v) for v in views])

    @_admitted(Lane.READ)
    async def GetTradingSummary(
        self,
        request: oms_pb2.GetTradingSummaryRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.GetTradingSummaryResponse:
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        return convert.trading_summary_to_proto(await self._service.trading_summary(since))

    @_admitted(Lane.READ)
    async def ListTopTraders(
        self, request: oms_pb2.ListTopTradersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListTopTradersResponse:
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        limit = convert.parse_limit(request.limit, default=10, most=100)
        since = since or self._service.start_of_day()
        winners, losers = await self._service.top_traders(since, limit)
        return convert.top_traders_to_proto(since, winners, losers)

    @_admitted(Lane.READ)
    async def GetBookSplit(
        self, request: oms_pb2.GetBookSplitRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetBookSplitResponse:
        start, end = convert.parse_book_split_period(
            request, self._service.start_of_day(), self._service.now()
        )
        return convert.book_split_to_proto(start, end, await self._service.book_split(start, end))

    @_admitted(Lane.READ)
    async def ListMarginWatch(
        self, request: oms_pb2.ListMarginWatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListMarginWatchResponse:
        within = convert.parse_within(request.within)
        watched = await self._service.margin_watch(within)
        return oms_pb2.ListMarginWatchResponse(
            accounts=[convert.margin_watch_to_proto(w) for w in watched]
        )

    # --- symbol and risk settings -----------------------------------------------------------------

    @_admitted(Lane.READ)
    async def GetSymbolSettings(
        self,
        request: oms_pb2.GetSymbolSettingsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.GetSymbolSettingsResponse:
        found = await self._service.symbol_settings(request.symbol.strip().upper())
        return oms_pb2.GetSymbolSettingsResponse(
            symbols=[sconvert.settings_to_proto(s) for s in found]
        )

    @_admitted(Lane.ORDER)
    async def UpsertSymbol(
        self, request: oms_pb2.UpsertSymbolRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.UpsertSymbolResponse:
        change = sconvert.change_from_proto(request.symbol, request.change)
        before, after = await self._service.upsert_symbol(change, create=request.create)
        reply = oms_pb2.UpsertSymbolResponse(after=sconvert.settings_to_proto(after))
        if before is not None:
            reply.before.CopyFrom(sconvert.settings_to_proto(before))
        return reply

    @_admitted(Lane.ORDER)
    async def SetSymbolEnabled(
        self,
        request: oms_pb2.SetSymbolEnabledRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.SetSymbolEnabledResponse:
        before, after = await self._service.set_symbol_enabled(
            request.symbol.strip().upper(), request.enabled
        )
        return oms_pb2.SetSymbolEnabledResponse(
            before=sconvert.settings_to_proto(before), after=sconvert.settings_to_proto(after)
        )

    @_admitted(Lane.READ)
    async def GetRiskSettings(
        self, request: oms_pb2.GetRiskSettingsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetRiskSettingsResponse:
        group = request.client_group.strip() if request.HasField("client_group") else None
        rows = await self._service.risk_settings(group)
        return oms_pb2.GetRiskSettingsResponse(settings=[sconvert.risk_to_proto(r) for r in rows])

    @_admitted(Lane.ORDER)
    async def SetRiskSettings(
        self, request: oms_pb2.SetRiskSettingsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.SetRiskSettingsResponse:
        row = sconvert.risk_from_proto(request.settings)
        before, after = await self._service.update_risk_settings(row)
        reply = oms_pb2.SetRiskSettingsResponse(after=sconvert.risk_to_proto(after))
        if before is not None:
            reply.before.CopyFrom(sconvert.risk_to_proto(before))
        return reply

    # --- live marks -------------------------------------------------------------------------------

    # Not admitted: a stream lives as long as a client watches, so it cannot hold an admission
    # slot; oms bounds watched accounts instead (RESOURCE_EXHAUSTED TOO_MANY_WATCHES).
    async def WatchAccount(
        self, request: oms_pb2.WatchAccountRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[oms_pb2.WatchAccountResponse]:
        marks = self._service.watch_account(convert.parse_account_id(request.account_id))
        try:
            async for mark in marks:
                yield convert.account_mark_to_proto(mark)
        finally:
            await marks.aclose()


def _close_result(result: CloseResult) -> oms_pb2.ClosePositionResponse:
    return oms_pb2.ClosePositionResponse(
        order=convert.order_to_proto(result.order),
        deals=[convert.deal_to_proto(d) for d in result.deals],
        position=convert.position_to_proto(result.position),
        replayed=result.replayed,
    )
