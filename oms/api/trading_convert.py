"""Protobuf -> commands for the order and position RPCs beyond PlaceOrder; opaque page tokens.

Parsing checks shape only (ids, decimals, required fields). What depends on the symbol or the
market (digits, sides, stops level) is checked by ``oms.domain.validation`` when the command runs.
"""

from __future__ import annotations

from fxmesh.errors import InvalidArgument
from fxmesh.money import parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2
from oms.api.convert import (
    optional_price,
    parse_account_id,
    parse_comment,
    parse_magic,
    parse_order_id,
    time_of,
)
from oms.domain.commands import (
    KEEP,
    CloseAllCommand,
    CloseByCommand,
    ClosePositionCommand,
    ListOrdersQuery,
    ModifyOrderCommand,
    ModifyPositionCommand,
    PriceChange,
)
from oms.domain.model import PositionId
from oms.domain.paging import decode_token

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def _invalid(message: str, reason: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


def parse_position_id(value: str, field: str = "position_id") -> PositionId:
    text = value.strip()
    if not text.isdigit() or len(text) > 18:
        raise _invalid(
            f"{field} is not a position number: {value!r}", Reason.INVALID_POSITION_ID, field
        )
    return PositionId(int(text))


def _change(value: str, field: str, *, removable: bool) -> PriceChange:
    text = value.strip()
    if not text:
        return KEEP
    number = parse_decimal(text, field, max_places=10)
    if number == 0 and removable:
        return None
    return parse_decimal(text, field, positive=True)


# --- orders --------------------------------------------------------------------------------------


def parse_modify_order(req: oms_pb2.ModifyOrderRequest) -> ModifyOrderCommand:
    price = _change(req.price, "price", removable=False)
    stop_limit = _change(req.stop_limit_price, "stop_limit_price", removable=False)
    assert price is not None  # not removable: never None
    assert stop_limit is not None
    return ModifyOrderCommand(
        account_id=parse_account_id(req.account_id),
        order_id=parse_order_id(req.order_id),
        price=price,
        stop_limit_price=stop_limit,
        stop_loss=_change(req.stop_loss, "stop_loss", removable=True),
        take_profit=_change(req.take_profit, "take_profit", removable=True),
        expire_at=time_of(req, "expire_time"),
    )


def parse_list_orders(req: oms_pb2.ListOrdersRequest) -> ListOrdersQuery:
    if req.page_size < 0:
        raise _invalid("page_size must not be negative", "INVALID_PAGE_SIZE", "page_size")
    since, until = time_of(req, "from_time"), time_of(req, "to_time")
    if since is not None and until is not None and since >= until:
        raise _invalid("from_time must be before to_time", Reason.INVALID_TIME_RANGE, "from_time")
    token = req.page_token.strip()
    return ListOrdersQuery(
        account_id=parse_account_id(req.account_id),
        history=req.view == oms_pb2.ORDER_LIST_VIEW_HISTORY,
        since=since,
        until=until,
        size=min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        after=decode_token(token) if token else None,
    )


# --- positions -----------------------------------------------------------------------------------


def _client_order_id(value: str, field: str) -> str:
    text = value.strip()
    if len(text) > 64:
        raise _invalid(
            f"{field} is longer than 64 characters", Reason.INVALID_CLIENT_ORDER_ID, field
        )
    return text


def parse_close_position(req: oms_pb2.ClosePositionRequest) -> ClosePositionCommand:
    if req.deviation_points < 0:
        raise _invalid(
            "deviation_points must not be negative", Reason.INVALID_DEVIATION, "deviation_points"
        )
    volume = None
    if req.volume.strip():
        volume = parse_decimal(req.volume, "volume", positive=True, max_places=8)
    return ClosePositionCommand(
        account_id=parse_account_id(req.account_id),
        position_id=parse_position_id(req.position_id),
        volume=volume,
        client_order_id=_client_order_id(req.client_order_id, "client_order_id"),
        requested_price=optional_price(req.requested_price, "requested_price"),
        deviation_points=req.deviation_points,
        magic=parse_magic(req.magic),
        comment=parse_comment(req.comment),
    )


def parse_close_all(req: oms_pb2.CloseAllPositionsRequest) -> CloseAllCommand:
    request_id = _client_order_id(req.request_id, "request_id")
    if len(request_id) > 40:  # "<request_id>:<position_id>" must fit a client order id
        raise _invalid(
            "request_id is longer than 40 characters", Reason.INVALID_CLIENT_ORDER_ID, "request_id"
        )
    return CloseAllCommand(
        account_id=parse_account_id(req.account_id),
        symbol=req.symbol.strip().upper() or None,
        request_id=request_id,
    )


def parse_close_by(req: oms_pb2.CloseByRequest) -> CloseByCommand:
    first = parse_position_id(req.position_id)
    second = parse_position_id(req.opposite_position_id, "opposite_position_id")
    if first == second:
        raise _invalid(
            "a position cannot be closed by itself", Reason.SAME_POSITION, "opposite_position_id"
        )
    return CloseByCommand(parse_account_id(req.account_id), first, second)


def _points(value: int, field: str) -> int | None:
    if value == -1:
        return None
    if value < 0:
        raise _invalid(f"{field} must be -1 (keep), 0 (off) or positive", "INVALID_POINTS", field)
    return value


def parse_modify_position(req: oms_pb2.ModifyPositionRequest) -> ModifyPositionCommand:
    return ModifyPositionCommand(
        account_id=parse_account_id(req.account_id),
        position_id=parse_position_id(req.position_id),
        stop_loss=_change(req.stop_loss, "stop_loss", removable=True),
        take_profit=_change(req.take_profit, "take_profit", removable=True),
        trailing_distance_points=_points(req.trailing_distance_points, "trailing_distance_points"),
        trailing_step_points=_points(req.trailing_step_points, "trailing_step_points"),
    )
