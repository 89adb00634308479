"""A small OmsService at the gRPC boundary for edge's tests: it records every request and answers
with fixed protos, keeping just enough state (orders, positions per account) to answer like oms
does for another account's id: NOT_FOUND.

Magic inputs: symbol ``NOPE`` -> INVALID_ARGUMENT UNKNOWN_SYMBOL; symbol ``BUSY`` -> oms's own
overload refusal (RESOURCE_EXHAUSTED OVERLOADED, retry after 2 s); symbol ``SLOW`` -> PlaceOrder
answers after 2 s (past a short edge deadline); volume ``99`` -> the order is
REJECTED NOT_ENOUGH_MONEY; a close with requestedPrice ``REQUOTE_PRICE`` -> the closing order is
REJECTED PRICE_CHANGED; modify with stopLoss ``WRONG_SIDE_SL`` -> INVALID_ARGUMENT INVALID_STOPS;
symbol ``REJ_<REASON>`` -> the order is REJECTED <REASON>; symbol ``ERR_<REASON>`` -> INVALID_ARGUMENT
<REASON> naming the field ``price``; PreviewMargin of volume ``99`` -> not sufficient;
ListSymbols knows BTCUSD, EURUSD and XAGUSD (``symbol_specs``), any other -> NOT_FOUND UNKNOWN_SYMBOL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.admission import Cause, Overloaded
from fxmesh.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

CLIENTS = {"alice": ("alice-pw", "1001"), "bob": ("bob-pw", "1002")}
GROUPS = {"1001": "edge-vip"}
"""Client groups by account (the rest are "retail"): only test_edge_group_prices gives
edge-vip prices of its own, and removes them."""
REJECTED_VOLUME = "99"
REQUOTE_PRICE = "9.99999"
WRONG_SIDE_SL = "5.55555"
FILL_PRICE = "1.08452"
T0 = 1_767_323_045  # 2026-01-02T03:04:05Z
REJECT_PREFIX = "REJ_"
ERROR_PREFIX = "ERR_"


def ts(seconds: int = T0) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(seconds)
    return stamp


def _opposite(side: types_pb2.Side.ValueType) -> types_pb2.Side.ValueType:
    return types_pb2.SIDE_SELL if side == types_pb2.SIDE_BUY else types_pb2.SIDE_BUY


def _unknown_symbol(symbol: str) -> None:
    if symbol == "NOPE":
        raise InvalidArgument(
            "unknown symbol NOPE", reason="UNKNOWN_SYMBOL", metadata={"symbol": "NOPE"}
        )


@dataclass
class FakeOms(oms_pb2_grpc.OmsServiceServicer):
    """Records what it was asked (``requests[rpc]``) and answers like oms would."""

    requests: defaultdict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    traceparents: list[str] = field(default_factory=list)
    orders: dict[str, types_pb2.Order] = field(default_factory=dict)
    positions: dict[str, types_pb2.Position] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(5001))
    # Set: PlaceOrder waits for it after recording the request (orders held in flight).
    hold: asyncio.Event | None = None
    # Open WatchAccount streams by account: what a test puts in a queue is sent (None: the
    # stream fails UNAVAILABLE, as when oms goes down).
    watches: defaultdict[str, list[asyncio.Queue[Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @property
    def placed(self) -> list[oms_pb2.PlaceOrderRequest]:
        return self.requests["PlaceOrder"]

    def last(self, rpc: str) -> Any:
        """The last request ``rpc`` received."""
        return self.requests[rpc][-1]

    def _record(self, rpc: str, request: Message, context: grpc.aio.ServicerContext) -> None:
        self.requests[rpc].append(request)
        for key, value in context.invocation_metadata() or ():
            if key == "traceparent":
                self.traceparents.append(str(value))

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _own_order(self, account_id: str, order_id: str) -> types_pb2.Order:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise NotFound(
                f"no order {order_id}", reason="ORDER_NOT_FOUND", metadata={"orderId": order_id}
            )
        return order

    def _own_position(self, account_id: str, position_id: str) -> types_pb2.Position:
        position = self.positions.get(position_id)
        if position is None or position.account_id != account_id:
            raise NotFound(f"no position {position_id}", reason="POSITION_NOT_FOUND")
        return position

    def open_position(self, account_id: str, symbol: str = "EURUSD", **fields: Any) -> str:
        """Put an open position straight into the book; its id."""
        position_id = self._next_id()
        values: dict[str, Any] = {
            "side": types_pb2.SIDE_BUY,
            "volume": "1.00",
            "open_price": FILL_PRICE,
            **fields,
        }
        self.positions[position_id] = types_pb2.Position(
            position_id=position_id,
            account_id=account_id,
            symbol=symbol,
            open_time=ts(),
            **values,
        )
        return position_id

    # --- authentication, orders ------------------------------------------------------------

    async def AuthenticateClient(
        self, request: oms_pb2.AuthenticateClientRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.AuthenticateClientResponse:
        known = CLIENTS.get(request.login)
        if known is None or known[0] != request.password:
            raise Unauthenticated("login or password is wrong", reason="INVALID_CREDENTIALS")
        return oms_pb2.AuthenticateClientResponse(account_id=known[1], login=request.login)

    async def PlaceOrder(
        self, request: oms_pb2.PlaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.PlaceOrderResponse:
        self._record("PlaceOrder", request, context)
        _unknown_symbol(request.symbol)
        if request.symbol.startswith(ERROR_PREFIX):
            reason = request.symbol.removeprefix(ERROR_PREFIX)
            raise InvalidArgument(f"refused: {reason}", reason=reason, metadata={"field": "price"})
        if request.symbol == "BUSY":
            raise Overloaded.because("oms", Cause.QUEUE_FULL, 2)
        if request.symbol == "SLOW":
            await asyncio.sleep(2.0)
        if self.hold is not None:
            await self.hold.wait()
        order = types_pb2.Order(
            order_id=self._next_id(),
            account_id=request.account_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force,
            volume=request.volume,
            filled_volume="0",
            price=request.price,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
            stop_limit_price=request.stop_limit_price,
            deviation_points=request.deviation_points,
            requested_price=request.requested_price,
            origin=types_pb2.ORDER_ORIGIN_CLIENT,
            create_time=ts(),
            update_time=ts(),
            magic=request.magic,
            comment=request.comment,
        )
        if request.HasField("expire_time"):
            order.expire_time.CopyFrom(request.expire_time)
        self.orders[order.order_id] = order
        if request.volume == REJECTED_VOLUME:
            order.status = types_pb2.ORDER_STATUS_REJECTED
            order.reject_reason = "NOT_ENOUGH_MONEY"
            order.reject_message = "free margin is too low"
            return oms_pb2.PlaceOrderResponse(order=order)
        if request.symbol.startswith(REJECT_PREFIX):
            order.status = types_pb2.ORDER_STATUS_REJECTED
            order.reject_reason = request.symbol.removeprefix(REJECT_PREFIX)
            order.reject_message = f"rejected: {order.reject_reason}"
            return oms_pb2.PlaceOrderResponse(order=order)
        if request.type != types_pb2.ORDER_TYPE_MARKET:
            order.status = types_pb2.ORDER_STATUS_WORKING
            return oms_pb2.PlaceOrderResponse(order=order)
        order.status = types_pb2.ORDER_STATUS_FILLED
        order.filled_volume = request.volume
        order.average_fill_price = FILL_PRICE
        order.book = types_pb2.BOOK_B
        fill = types_pb2.Fill(
            fill_id="f-1", price=FILL_PRICE, volume=request.volume, book=types_pb2.BOOK_B
        )
        position_id = self.open_position(
            request.account_id,
            request.symbol,
            side=request.side,
            volume=request.volume,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
        )
        deal = types_pb2.Deal(
            deal_id=self._next_id(),
            order_id=order.order_id,
            position_id=position_id,
            account_id=request.account_id,
            symbol=request.symbol,
            side=request.side,
            volume=request.volume,
            price=FILL_PRICE,
            entry=types_pb2.DEAL_ENTRY_IN,
            book=types_pb2.BOOK_B,
            venue="BBOOK",
            deal_time=ts(),
        )
        return oms_pb2.PlaceOrderResponse(
            order=order, fills=[fill], positions=[self.positions[position_id]], deals=[deal]
        )

    async def GetOrder(
        self, request: oms_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.GetOrderResponse:
        self._record("GetOrder", request, context)
        return oms_pb2.GetOrderResponse(order=self._own_order(request.account_id, request.order_id))

    async def ModifyOrder(
        self, request: oms_pb2.ModifyOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ModifyOrderResponse:
        self._record("ModifyOrder", request, context)
        order = self._own_order(request.account_id, request.order_id)
        if order.status != types_pb2.ORDER_STATUS_WORKING:
            raise FailedPrecondition("the order is not working", reason="ORDER_NOT_WORKING")
        if request.stop_loss == WRONG_SIDE_SL:
            raise InvalidArgument(
                "stop loss on the wrong side", reason="INVALID_STOPS", metadata={"field": "sl"}
            )
        for name in ("price", "stop_limit_price", "stop_loss", "take_profit"):
            value = getattr(request, name)
            if value:
                setattr(order, name, "" if value == "0" else value)
        if request.HasField("expire_time"):
            order.expire_time.CopyFrom(request.expire_time)
        return oms_pb2.ModifyOrderResponse(order=order)

    async def CancelOrder(
        self, request: oms_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.CancelOrderResponse:
        self._record("CancelOrder", request, context)
        order = self._own_order(request.account_id, request.order_id)
        if order.status != types_pb2.ORDER_STATUS_WORKING:
            raise FailedPrecondition("the order is not working", reason="ORDER_NOT_WORKING")
        order.status = types_pb2.ORDER_STATUS_CANCELLED
        order.reject_reason = "CANCELLED_BY_CLIENT"
        return oms_pb2.CancelOrderResponse(order=order)

    async def ListOrders(
        self, request: oms_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListOrdersResponse:
        self._record("ListOrders", request, context)
        own = [o for o in self.orders.values() if o.account_id == request.account_id]
        if request.view != oms_pb2.ORDER_LIST_VIEW_HISTORY:
            own = [o for o in own if o.status == types_pb2.ORDER_STATUS_WORKING]
        own.sort(key=lambda o: int(o.order_id), reverse=True)
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = own[start : start + size]
        more = start + size < len(own)
        return oms_pb2.ListOrdersResponse(
            orders=page, next_page_token=str(start + size) if more else ""
        )

    # --- positions ---------------------------------------------------------------------------

    def _close(
        self, position: types_pb2.Position, volume: str, client_order_id: str, requested: str
    ) -> oms_pb2.ClosePositionResponse:
        lots = volume or position.volume
        order = types_pb2.Order(
            order_id=self._next_id(),
            account_id=position.account_id,
            client_order_id=client_order_id,
            symbol=position.symbol,
            side=_opposite(position.side),
            type=types_pb2.ORDER_TYPE_MARKET,
            volume=lots,
            requested_price=requested,
            position_id=position.position_id,
            origin=types_pb2.ORDER_ORIGIN_CLIENT,
            create_time=ts(),
        )
        self.orders[order.order_id] = order
        if requested == REQUOTE_PRICE:
            order.status = types_pb2.ORDER_STATUS_REJECTED
            order.reject_reason = "PRICE_CHANGED"
            return oms_pb2.ClosePositionResponse(order=order, position=position)
        order.status = types_pb2.ORDER_STATUS_FILLED
        order.filled_volume = lots
        order.average_fill_price = "1.08500"
        deal = types_pb2.Deal(
            deal_id=self._next_id(),
            order_id=order.order_id,
            position_id=position.position_id,
            account_id=position.account_id,
            symbol=position.symbol,
            side=order.side,
            volume=lots,
            price="1.08500",
            realized_pnl="4.80",
            entry=types_pb2.DEAL_ENTRY_OUT,
            reason=types_pb2.CLOSE_REASON_CLIENT,
            deal_time=ts(),
        )
        remaining = Decimal(position.volume) - Decimal(lots)
        if remaining > 0:
            position.volume = format(remaining, "f")
        else:
            position.close_price = "1.08500"
            position.close_time.CopyFrom(ts())
            position.close_reason = types_pb2.CLOSE_REASON_CLIENT
        position.realized_pnl = "4.80"
        return oms_pb2.ClosePositionResponse(order=order, deals=[deal], position=position)

    async def ClosePosition(
        self, request: oms_pb2.ClosePositionRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ClosePositionResponse:
        self._record("ClosePosition", request, context)
        position = self._own_position(request.account_id, request.position_id)
        return self._close(
            position, request.volume, request.client_order_id, request.requested_price
        )

    async def CloseAllPositions(
        self, request: oms_pb2.CloseAllPositionsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.CloseAllPositionsResponse:
        self._record("CloseAllPositions", request, context)
        results = [
            self._close(p, "", f"{request.request_id}:{p.position_id}", "")
            for p in list(self.positions.values())
            if p.account_id == request.account_id
            and not p.HasField("close_time")
            and request.symbol in ("", p.symbol)
        ]
        return oms_pb2.CloseAllPositionsResponse(results=results)

    async def CloseBy(
        self, request: oms_pb2.CloseByRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.CloseByResponse:
        self._record("CloseBy", request, context)
        first = self._own_position(request.account_id, request.position_id)
        second = self._own_position(request.account_id, request.opposite_position_id)
        deals = []
        for position in (first, second):
            position.close_reason = types_pb2.CLOSE_REASON_CLOSE_BY
            position.close_time.CopyFrom(ts())
            deals.append(
                types_pb2.Deal(
                    deal_id=self._next_id(),
                    position_id=position.position_id,
                    account_id=position.account_id,
                    symbol=position.symbol,
                    side=_opposite(position.side),
                    volume=position.volume,
                    price=first.open_price,
                    entry=types_pb2.DEAL_ENTRY_OUT_BY,
                    reason=types_pb2.CLOSE_REASON_CLOSE_BY,
                )
            )
        return oms_pb2.CloseByResponse(deals=deals, positions=[first, second])

    async def ModifyPosition(
        self, request: oms_pb2.ModifyPositionRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ModifyPositionResponse:
        self._record("ModifyPosition", request, context)
        position = self._own_position(request.account_id, request.position_id)
        for name in ("stop_loss", "take_profit"):
            value = getattr(request, name)
            if value:
                setattr(position, name, "" if value == "0" else value)
        for name in ("trailing_distance_points", "trailing_step_points"):
            value = getattr(request, name)
            if value >= 0:
                setattr(position, name, value)
        return oms_pb2.ModifyPositionResponse(position=position)

    async def ListPositions(
        self, request: oms_pb2.ListPositionsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListPositionsResponse:
        self._record("ListPositions", request, context)
        return oms_pb2.ListPositionsResponse(
            positions=[
                types_pb2.Position(
                    position_id="7001",
                    account_id=request.account_id,
                    symbol="EURUSD",
                    side=types_pb2.SIDE_BUY,
                    volume="0.10",
                    open_price=FILL_PRICE,
                    profit="1.25",
                )
            ]
        )

    # --- account reports -----------------------------------------------------------------------

    async def ListAccounts(
        self, request: oms_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListAccountsResponse:
        # Not recorded: edge asks it for the caller's client group next to other calls.
        account_id = request.query
        if account_id not in {a for _, a in CLIENTS.values()}:
            return oms_pb2.ListAccountsResponse()
        return oms_pb2.ListAccountsResponse(
            accounts=[
                types_pb2.AccountInfo(
                    account_id=account_id, client_group=GROUPS.get(account_id, "retail")
                )
            ]
        )

    async def GetAccountSummary(
        self, request: oms_pb2.GetAccountSummaryRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.GetAccountSummaryResponse:
        self._record("GetAccountSummary", request, context)
        return summary(request.account_id)

    async def ListDeals(
        self, request: oms_pb2.ListDealsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListDealsResponse:
        self._record("ListDeals", request, context)
        return oms_pb2.ListDealsResponse(
            deals=[deal(request.account_id)], next_page_token="" if request.page_token else "p2"
        )

    async def ListLedger(
        self, request: oms_pb2.ListLedgerRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListLedgerResponse:
        self._record("ListLedger", request, context)
        return oms_pb2.ListLedgerResponse(entries=[ledger_entry(request.account_id)])

    async def GetStatement(
        self, request: oms_pb2.GetStatementRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.GetStatementResponse:
        self._record("GetStatement", request, context)
        return oms_pb2.GetStatementResponse(
            account=types_pb2.AccountInfo(
                account_id=request.account_id,
                login="alice",
                currency="USD",
                leverage=100,
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                margin_mode=types_pb2.MARGIN_MODE_HEDGING,
                balance="10004.10",
            ),
            from_time=request.from_time,
            to_time=request.to_time,
            opening_balance="10000.00",
            closing_balance="10004.10",
            totals=[
                oms_pb2.LedgerTotal(
                    type=types_pb2.LEDGER_ENTRY_TYPE_REALIZED_PNL, amount="4.80", count=1
                ),
                oms_pb2.LedgerTotal(
                    type=types_pb2.LEDGER_ENTRY_TYPE_COMMISSION, amount="-0.70", count=1
                ),
            ],
            deals=[deal(request.account_id)],
            summary=summary(request.account_id),
        )

    # --- risk ----------------------------------------------------------------------------------

    async def CalculateLot(
        self, request: oms_pb2.CalculateLotRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.CalculateLotResponse:
        self._record("CalculateLot", request, context)
        _unknown_symbol(request.symbol)
        return oms_pb2.CalculateLotResponse(
            volume="0.25",
            risk_amount="99.50",
            margin="271.18",
            entry_price=request.entry_price or "1.08470",
            stop_loss=request.stop_loss or "1.08070",
        )

    async def PreviewMargin(
        self, request: oms_pb2.PreviewMarginRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.PreviewMarginResponse:
        self._record("PreviewMargin", request, context)
        _unknown_symbol(request.symbol)
        if request.volume == REJECTED_VOLUME:
            return oms_pb2.PreviewMarginResponse(
                margin="107385.30",
                commission="69.30",
                free_margin_before="9904.05",
                free_margin_after="-97550.55",
                margin_level_after="9.29",
                sufficient=False,
                currency="USD",
            )
        return oms_pb2.PreviewMarginResponse(
            margin="108.47",
            commission="0.70",
            free_margin_before="9904.05",
            free_margin_after="9794.88",
            margin_level_after="4583.21",
            sufficient=True,
            currency="USD",
        )

    # --- live marks ----------------------------------------------------------------------------

    async def WatchAccount(
        self, request: oms_pb2.WatchAccountRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        self._record("WatchAccount", request, context)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        streams = self.watches[request.account_id]
        streams.append(queue)
        try:
            while True:
                mark = await queue.get()
                if mark is None:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "oms is going down")
                yield mark
        finally:
            streams.remove(queue)

    def push_mark(self, account_id: str, mark: oms_pb2.WatchAccountResponse | None) -> int:
        """Send ``mark`` on every open WatchAccount of the account (None: fail them); how many."""
        streams = list(self.watches[account_id])
        for queue in streams:
            queue.put_nowait(mark)
        return len(streams)

    # --- symbols -------------------------------------------------------------------------------

    async def ListSymbols(
        self, request: oms_pb2.ListSymbolsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListSymbolsResponse:
        self._record("ListSymbols", request, context)
        catalogue = symbol_specs()
        if not request.symbol:
            return oms_pb2.ListSymbolsResponse(symbols=catalogue)
        named = [s for s in catalogue if s.symbol == request.symbol]
        if not named:
            raise NotFound(
                f"no symbol {request.symbol}",
                reason="UNKNOWN_SYMBOL",
                metadata={"symbol": request.symbol},
            )
        return oms_pb2.ListSymbolsResponse(symbols=named)


def symbol_specs() -> list[oms_pb2.SymbolSpecification]:
    """The fake catalogue: EURUSD (FX, weekday sessions, open), BTCUSD (crypto, always open) and
    XAGUSD (metal, disabled, closed)."""
    weekdays = [
        oms_pb2.SymbolTradingSession(weekday=day, start_minute=0, end_minute=1440)
        for day in (1, 2, 3, 4, 5)
    ]
    common: dict[str, Any] = {
        "quote_currency": "USD",
        "volume_min": "0.01",
        "volume_step": "0.01",
        "margin_percent": "100",
        "commission_currency": "USD",
        "swap_triple_weekday": 3,
    }
    return [
        oms_pb2.SymbolSpecification(
            symbol="BTCUSD",
            description="Bitcoin vs US Dollar",
            asset_class=oms_pb2.ASSET_CLASS_CRYPTO,
            base_currency="BTC",
            digits=2,
            point="0.01",
            pip_size="0.01",
            contract_size="1",
            volume_max="10",
            commission_per_lot="10.00",
            swap_long_points="-2000.00",
            swap_short_points="-2000.00",
            stops_level_points=1000,
            session_open=True,
            enabled=True,
            **{**common, "swap_triple_weekday": 5, "margin_percent": "500"},
        ),
        oms_pb2.SymbolSpecification(
            symbol="EURUSD",
            description="Euro vs US Dollar",
            asset_class=oms_pb2.ASSET_CLASS_FX,
            base_currency="EUR",
            digits=5,
            point="0.00001",
            pip_size="0.0001",
            contract_size="100000",
            volume_max="50",
            commission_per_lot="3.50",
            swap_long_points="-6.50",
            swap_short_points="1.20",
            stops_level_points=10,
            default_deviation_points=20,
            sessions=weekdays,
            session_open=True,
            enabled=True,
            **common,
        ),
        oms_pb2.SymbolSpecification(
            symbol="XAGUSD",
            description="Silver vs US Dollar",
            asset_class=oms_pb2.ASSET_CLASS_METAL,
            base_currency="XAG",
            digits=3,
            point="0.001",
            pip_size="0.01",
            contract_size="5000",
            volume_max="20",
            commission_per_lot="5.00",
            swap_long_points="-3.00",
            swap_short_points="0.50",
            stops_level_points=50,
            sessions=weekdays,
            session_open=False,
            enabled=False,
            **common,
        ),
    ]


def summary(account_id: str) -> oms_pb2.GetAccountSummaryResponse:
    return oms_pb2.GetAccountSummaryResponse(
        account_id=account_id,
        login="alice",
        currency="USD",
        leverage=100,
        balance="10000.00",
        equity="10012.50",
        margin="108.45",
        free_margin="9904.05",
        margin_level="9232.37",
        unrealized_pnl="12.50",
        type=types_pb2.ACCOUNT_TYPE_DEMO,
        status=types_pb2.ACCOUNT_STATUS_ACTIVE,
        margin_mode=types_pb2.MARGIN_MODE_HEDGING,
    )


def deal(account_id: str) -> types_pb2.Deal:
    return types_pb2.Deal(
        deal_id="9001",
        order_id="5001",
        position_id="5002",
        account_id=account_id,
        symbol="EURUSD",
        side=types_pb2.SIDE_SELL,
        volume="0.10",
        price="1.08500",
        commission="-0.35",
        swap="0",
        realized_pnl="4.80",
        venue="BBOOK",
        deal_time=ts(),
        entry=types_pb2.DEAL_ENTRY_OUT,
        book=types_pb2.BOOK_B,
        reason=types_pb2.CLOSE_REASON_TAKE_PROFIT,
    )


def ledger_entry(account_id: str) -> types_pb2.LedgerEntry:
    return types_pb2.LedgerEntry(
        ledger_id="3001",
        account_id=account_id,
        type=types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT,
        amount="10000.00",
        balance_before="0.00",
        balance_after="10000.00",
        currency="USD",
        reference="wire-1",
        create_time=ts(),
    )
