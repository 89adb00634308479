"""The only place protobuf and event JSON meet the domain: parse requests, build replies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.commands import PlaceOrderCommand
from oms.domain.model import (
    Account,
    AccountFigures,
    AccountId,
    Order,
    OrderId,
    OrderType,
    Side,
    TimeInForce,
)
from oms.domain.records import DealRow, Fill
from oms.domain.results import (
    BookSplit,
    MarginWatch,
    PositionView,
    SymbolView,
    TraderResult,
    TradingSummary,
)
from oms.trading.marks import AccountMark

# --- enums ---------------------------------------------------------------------------------------


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


def book_from_proto(value: int) -> str | None:
    return (
        None if value == types_pb2.BOOK_UNSPECIFIED else _enum_name(types_pb2.Book, value, "BOOK_")
    )


def book_to_proto(book: str | None) -> Any:
    return types_pb2.Book.Value(f"BOOK_{book}") if book else types_pb2.BOOK_UNSPECIFIED


def side_to_proto(side: Side) -> Any:
    return types_pb2.Side.Value(f"SIDE_{side.value}")


def enum_value(enum: Any, prefix: str, value: str | None) -> Any:
    """``prefix + value`` of a proto enum; the UNSPECIFIED zero for None."""
    return enum.Value(f"{prefix}{value}") if value else 0


def _status(enum: Any, prefix: str, value: str) -> Any:
    return enum.Value(f"{prefix}{value}")


# --- requests ------------------------------------------------------------------------------------


def parse_account_id(value: str) -> AccountId:
    text = value.strip()
    if not text:
        raise InvalidArgument(
            "account_id is required", reason=Reason.MISSING_FIELD, metadata={"field": "account_id"}
        )
    if not text.isdigit() or len(text) > 18:
        raise InvalidArgument(
            f"account_id is not an account number: {value!r}",
            reason=Reason.INVALID_ACCOUNT_ID,
            metadata={"field": "account_id"},
        )
    return AccountId(int(text))


def parse_order_id(value: str) -> OrderId:
    text = value.strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidArgument(
            f"order_id is not an order number: {value!r}",
            reason=Reason.INVALID_ORDER_ID,
            metadata={"field": "order_id"},
        )
    return OrderId(int(text))


def parse_place_order(req: oms_pb2.PlaceOrderRequest) -> PlaceOrderCommand:
    """Check the request's shape; what the client could fix by trading differently is data later."""
    account_id = parse_account_id(req.account_id)
    client_order_id = req.client_order_id.strip()
    if not client_order_id:
        raise InvalidArgument(
            "client_order_id is required",
            reason=Reason.MISSING_FIELD,
            metadata={"field": "client_order_id"},
        )
    if len(client_order_id) > 64:
        raise InvalidArgument(
            "client_order_id is longer than 64 characters",
            reason=Reason.INVALID_CLIENT_ORDER_ID,
            metadata={"field": "client_order_id"},
        )
    symbol = req.symbol.strip().upper()
    if not symbol:
        raise InvalidArgument(
            "symbol is required", reason=Reason.MISSING_FIELD, metadata={"field": "symbol"}
        )
    if req.side == types_pb2.SIDE_UNSPECIFIED:
        raise InvalidArgument(
            "side is required", reason=Reason.MISSING_FIELD, metadata={"field": "side"}
        )
    if req.type == types_pb2.ORDER_TYPE_UNSPECIFIED:
        raise InvalidArgument(
            "type is required", reason=Reason.MISSING_FIELD, metadata={"field": "type"}
        )
    if req.deviation_points < 0:
        raise InvalidArgument(
            "deviation_points must not be negative",
            reason=Reason.INVALID_DEVIATION,
            metadata={"field": "deviation_points"},
        )
    order_type = OrderType(_enum_name(types_pb2.OrderType, req.type, "ORDER_TYPE_"))
    if req.time_in_force == types_pb2.TIME_IN_FORCE_UNSPECIFIED:
        tif = TimeInForce.IOC if order_type is OrderType.MARKET else TimeInForce.GTC
    else:
        tif = TimeInForce(_enum_name(types_pb2.TimeInForce, req.time_in_force, "TIME_IN_FORCE_"))
    volume = parse_decimal(req.volume, "volume", positive=True, max_places=8)
    # A market order executes at the market: a limit/stop price on it is ignored, not an error.
    price = None
    if order_type is not OrderType.MARKET and req.price.strip():
        price = parse_decimal(req.price, "price", positive=True, max_places=10)
    requested = None
    if req.requested_price.strip():
        requested = parse_decimal(req.requested_price, "requested_price", positive=True)
    stop_limit = None
    if order_type is OrderType.STOP_LIMIT:
        stop_limit = optional_price(req.stop_limit_price, "stop_limit_price")
    return PlaceOrderCommand(
        account_id=account_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side(_enum_name(types_pb2.Side, req.side, "SIDE_")),
        type=order_type,
        time_in_force=tif,
        volume=volume,
        price=price,
        requested_price=requested,
        deviation_points=req.deviation_points,
        stop_loss=optional_price(req.stop_loss, "stop_loss"),
        take_profit=optional_price(req.take_profit, "take_profit"),
        stop_limit_price=stop_limit,
        expire_at=time_of(req, "expire_time"),
        magic=parse_magic(req.magic),
        comment=parse_comment(req.comment),
    )


# MetaTrader keeps 31 characters of a comment; a little more room, bounded.
MAX_COMMENT = 255


def parse_magic(value: int) -> int:
    """The client's magic number: not negative (MetaTrader's is unsigned)."""
    if value < 0:
        raise InvalidArgument(
            "magic must not be negative", reason=Reason.INVALID_FIELD, metadata={"field": "magic"}
        )
    return value


def parse_comment(value: str) -> str:
    if len(value) > MAX_COMMENT:
        raise InvalidArgument(
            f"comment is longer than {MAX_COMMENT} characters",
            reason=Reason.INVALID_FIELD,
            metadata={"field": "comment"},
        )
    return value


def optional_price(value: str, field: str) -> Decimal | None:
    """A positive decimal price, or None when empty."""
    return parse_decimal(value, field, positive=True, max_places=10) if value.strip() else None


def time_of(msg: Any, field: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    value: datetime = getattr(msg, field).ToDatetime(tzinfo=UTC)
    return value


# --- replies -------------------------------------------------------------------------------------


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def order_to_proto(order: Order) -> types_pb2.Order:
    return types_pb2.Order(
        order_id=str(order.order_id or ""),
        account_id=str(order.account_id),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=side_to_proto(order.side),
        type=_status(types_pb2.OrderType, "ORDER_TYPE_", order.type.value),
        time_in_force=_status(types_pb2.TimeInForce, "TIME_IN_FORCE_", order.time_in_force.value),
        volume=fmt(order.volume),
        filled_volume=fmt(order.filled_volume),
        price=fmt(order.price),
        average_fill_price=fmt(order.avg_fill_price),
        status=_status(types_pb2.OrderStatus, "ORDER_STATUS_", order.status.value),
        reject_reason=order.reject_reason or "",
        reject_message=order.reject_message or "",
        book=book_to_proto(order.book),
        create_time=timestamp(order.created_at),
        update_time=timestamp(order.updated_at),
        deviation_points=order.deviation_points,
        requested_price=fmt(order.requested_price),
        stop_loss=fmt(order.stop_loss),
        take_profit=fmt(order.take_profit),
        stop_limit_price=fmt(order.stop_limit_price),
        expire_time=timestamp(order.expire_at),
        position_id=str(order.position_id or ""),
        origin=enum_value(types_pb2.OrderOrigin, "ORDER_ORIGIN_", order.origin.value),
        stop_limit_active=order.stop_limit_active,
        magic=order.magic,
        comment=order.comment,
    )


def fill_to_proto(fill: Fill) -> types_pb2.Fill:
    return types_pb2.Fill(
        fill_id=fill.fill_id,
        price=fmt(fill.price),
        volume=fmt(fill.volume),
        book=book_to_proto(fill.book),
        venue=fill.venue,
        fill_time=timestamp(fill.fill_time),
    )


def position_to_proto(view: PositionView) -> types_pb2.Position:
    p = view.row
    return types_pb2.Position(
        position_id=str(p.position_id),
        account_id=str(p.account_id),
        symbol=p.symbol,
        side=side_to_proto(p.side),
        volume=fmt(p.volume),
        open_price=fmt(p.open_price),
        current_price=fmt(view.current_price) if p.is_open else "",
        profit=fmt(view.profit) if p.is_open else "",
        stop_loss=fmt(p.stop_loss),
        take_profit=fmt(p.take_profit),
        open_time=timestamp(p.opened_at),
        commission=fmt(p.commission),
        swap=fmt(p.swap),
        trailing_distance_points=p.trailing_distance_points,
        trailing_step_points=p.trailing_step_points,
        margin=fmt(view.margin) if p.is_open else "",
        close_price=fmt(p.close_price),
        close_time=timestamp(p.closed_at),
        close_reason=enum_value(
            types_pb2.CloseReason, "CLOSE_REASON_", p.close_reason.value if p.close_reason else None
        ),
        realized_pnl=fmt(p.realized_pnl),
        book=book_to_proto(p.book),
        venue=p.venue,
        venue_order_id=p.venue_order_id or "",
    )


def deal_to_proto(d: DealRow) -> types_pb2.Deal:
    return types_pb2.Deal(
        deal_id=str(d.deal_id),
        order_id=str(d.order_id or ""),
        position_id=str(d.position_id),
        account_id=str(d.account_id),
        symbol=d.symbol,
        side=side_to_proto(d.side),
        volume=fmt(d.volume),
        price=fmt(d.price),
        commission=fmt(d.commission),
        swap=fmt(d.swap),
        realized_pnl=fmt(d.realized_pnl),
        venue=d.venue,
        deal_time=timestamp(d.deal_time),
        fill_id=d.fill_id,
        entry=enum_value(types_pb2.DealEntry, "DEAL_ENTRY_", d.entry.value),
        book=book_to_proto(d.book),
        reason=enum_value(types_pb2.CloseReason, "CLOSE_REASON_", d.reason.value),
        magic=d.magic,
        comment=d.comment,
    )


def account_to_proto(account: Account) -> types_pb2.AccountInfo:
    return types_pb2.AccountInfo(
        account_id=str(account.account_id),
        login=account.login,
        currency=account.currency,
        leverage=account.leverage,
        client_group=account.client_group,
        balance=fmt(account.balance),
        margin_call_level=fmt(account.margin_call_level),
        stop_out_level=fmt(account.stop_out_level),
        negative_balance_protection=account.negative_balance_protection,
        max_open_positions=account.max_open_positions,
        max_daily_volume=fmt(account.max_daily_volume),
        create_time=timestamp(account.created_at),
        email=account.email or "",
        name=account.name or "",
        **account_enums(account),
    )


def account_enums(account: Account) -> dict[str, Any]:
    return {
        "type": _status(types_pb2.AccountType, "ACCOUNT_TYPE_", account.type),
        "status": _status(types_pb2.AccountStatus, "ACCOUNT_STATUS_", account.status),
        "margin_mode": _status(types_pb2.MarginMode, "MARGIN_MODE_", account.margin_mode),
    }


def account_summary_to_proto(
    account: Account, fig: AccountFigures, at: datetime
) -> oms_pb2.GetAccountSummaryResponse:
    """Live account figures as of ``at``, in the account currency."""
    return oms_pb2.GetAccountSummaryResponse(
        account_id=str(account.account_id),
        login=account.login,
        currency=account.currency,
        leverage=account.leverage,
        balance=fmt(fig.balance),
        equity=fmt(fig.equity),
        margin=fmt(fig.margin),
        free_margin=fmt(fig.free_margin),
        margin_level=fmt(fig.margin_level),
        unrealized_pnl=fmt(fig.unrealized_pnl),
        summary_time=timestamp(at),
        held=fmt(fig.held),
        **account_enums(account),
    )


def parse_limit(value: int, *, default: int, most: int) -> int:
    """A requested count: 0 means ``default``; negative or above ``most`` is INVALID_ARGUMENT."""
    if value == 0:
        return default
    if not 0 < value <= most:
        raise InvalidArgument(
            f"limit must be 1..{most}", reason=Reason.INVALID_LIMIT, metadata={"field": "limit"}
        )
    return value


def parse_within(text: str) -> Decimal:
    """Percentage points above the margin-call level that count as near (default 50)."""
    if not text.strip():
        return Decimal(50)
    within = parse_decimal(text, "within")
    if within < 0:
        raise InvalidArgument(
            "within must not be negative",
            reason=Reason.INVALID_DECIMAL,
            metadata={"field": "within"},
        )
    return within


def _trader_to_proto(r: TraderResult) -> oms_pb2.TraderResult:
    return oms_pb2.TraderResult(
        account_id=str(r.account.account_id),
        login=r.account.login,
        client_group=r.account.client_group,
        currency=r.account.currency,
        net=fmt(r.net),
        net_usd=fmt(r.net_usd),
        deals=r.deals,
        lots=fmt(r.lots),
    )


def top_traders_to_proto(
    since: datetime, winners: list[TraderResult], losers: list[TraderResult]
) -> oms_pb2.ListTopTradersResponse:
    return oms_pb2.ListTopTradersResponse(
        since=timestamp(since),
        winners=[_trader_to_proto(r) for r in winners],
        losers=[_trader_to_proto(r) for r in losers],
    )


def margin_watch_to_proto(w: MarginWatch) -> oms_pb2.MarginWatchEntry:
    a, fig = w.account, w.figures
    return oms_pb2.MarginWatchEntry(
        account_id=str(a.account_id),
        login=a.login,
        client_group=a.client_group,
        currency=a.currency,
        balance=fmt(fig.balance),
        equity=fmt(fig.equity),
        margin=fmt(fig.margin),
        margin_level=fmt(fig.margin_level),
        margin_call_level=fmt(a.margin_call_level),
        stop_out_level=fmt(a.stop_out_level),
        open_positions=w.open_positions,
    )


def trading_summary_to_proto(s: TradingSummary) -> oms_pb2.GetTradingSummaryResponse:
    return oms_pb2.GetTradingSummaryResponse(
        since=timestamp(s.since),
        orders_placed=s.orders_placed,
        orders_filled=s.orders_filled,
        orders_rejected=s.orders_rejected,
        deals=s.deals,
        lots_traded=fmt(s.lots_traded),
        active_accounts=s.active_accounts,
        open_positions=s.open_positions,
        working_orders=s.working_orders,
        by_book=[
            oms_pb2.BookActivity(
                book=book_to_proto(b.book),
                deals=b.deals,
                lots=fmt(b.lots),
                client_net=fmt(b.client_net),
            )
            for b in s.by_book
        ],
    )


def account_mark_to_proto(mark: AccountMark) -> oms_pb2.WatchAccountResponse:
    """An account marked to market (WatchAccount)."""
    account, fig = mark.account, mark.figures
    return oms_pb2.WatchAccountResponse(
        account_id=str(account.account_id),
        currency=account.currency,
        balance=fmt(fig.balance),
        equity=fmt(fig.equity),
        margin=fmt(fig.margin),
        free_margin=fmt(fig.free_margin),
        margin_level=fmt(fig.margin_level),
        unrealized_pnl=fmt(fig.unrealized_pnl),
        positions=[
            oms_pb2.PositionMark(
                position_id=str(v.row.position_id),
                symbol=v.row.symbol,
                side=side_to_proto(v.row.side),
                volume=fmt(v.row.volume),
                open_price=fmt(v.row.open_price),
                current_price=fmt(v.current_price),
                profit=fmt(v.profit),
            )
            for v in mark.positions
        ],
        as_of=timestamp(mark.as_of),
    )


# --- symbols -------------------------------------------------------------------------------------


def parse_symbol_filter(request: oms_pb2.ListSymbolsRequest) -> str:
    """The one symbol asked for (upper case), or empty for all."""
    return request.symbol.strip().upper()


def symbol_to_proto(view: SymbolView) -> oms_pb2.SymbolSpecification:
    spec = view.spec
    return oms_pb2.SymbolSpecification(
        symbol=spec.symbol,
        description=spec.description,
        asset_class=oms_pb2.AssetClass.Value(f"ASSET_CLASS_{spec.asset_class.value}"),
        base_currency=spec.base_currency,
        quote_currency=spec.quote_currency,
        digits=spec.digits,
        point=fmt(spec.point),
        pip_size=fmt(spec.pip_size),
        contract_size=fmt(spec.contract_size),
        volume_min=fmt(spec.volume_min),
        volume_max=fmt(spec.volume_max),
        volume_step=fmt(spec.volume_step),
        margin_percent=fmt(spec.margin_percent),
        commission_per_lot=fmt(spec.commission_per_lot),
        commission_currency=spec.commission_currency,
        swap_long_points=fmt(spec.swap_long_points),
        swap_short_points=fmt(spec.swap_short_points),
        swap_triple_weekday=spec.swap_triple_weekday,
        stops_level_points=spec.stops_level_points,
        sessions=[
            oms_pb2.SymbolTradingSession(
                weekday=s.weekday, start_minute=s.start_minute, end_minute=s.end_minute
            )
            for s in spec.sessions
        ],
        session_open=view.session_open,
        enabled=spec.enabled,
        default_deviation_points=spec.default_deviation_points,
    )


def parse_book_split_period(
    request: oms_pb2.GetBookSplitRequest, start_of_day: datetime, now: datetime
) -> tuple[datetime, datetime]:
    """[from_time, to_time) of GetBookSplit (defaults: today so far); INVALID_TIME_RANGE unless
    from is before to."""
    start = request.from_time.ToDatetime(tzinfo=UTC) if request.HasField("from_time") else None
    end = request.to_time.ToDatetime(tzinfo=UTC) if request.HasField("to_time") else None
    start = start or start_of_day
    end = end or now
    if start >= end:
        raise InvalidArgument(
            "from_time must be before to_time",
            reason=Reason.INVALID_TIME_RANGE,
            metadata={"field": "from_time"},
        )
    return start, end


def book_split_to_proto(
    start: datetime, end: datetime, splits: list[BookSplit]
) -> oms_pb2.GetBookSplitResponse:
    return oms_pb2.GetBookSplitResponse(
        from_time=timestamp(start),
        to_time=timestamp(end),
        total_volume=fmt(sum((b.volume for b in splits), Decimal(0))),
        books=[
            oms_pb2.BookSplit(
                book=book_to_proto(b.book),
                deals=b.deals,
                volume=fmt(b.volume),
                volume_percent=fmt(b.volume_percent),
                realized_pnl=fmt(b.realized_pnl),
                commission=fmt(b.commission),
                swap=fmt(b.swap),
                client_net=fmt(b.client_net),
                venues=[
                    oms_pb2.VenueSplit(
                        venue=v.venue,
                        book=book_to_proto(v.book),
                        deals=v.deals,
                        volume=fmt(v.volume),
                        client_net=fmt(v.client_net),
                    )
                    for v in b.venues
                ],
            )
            for b in splits
        ],
    )
