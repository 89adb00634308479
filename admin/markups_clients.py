"""The group markup RPCs of quotes, and the conversion of their messages (admin's boundary for
``admin.markups``)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from admin.clients import upstream
from admin.markups import GroupMarkup
from fxmesh.errors import Unavailable
from fxmesh.v1 import quotes_markups_pb2 as pb

if TYPE_CHECKING:
    from admin.clients import QuotesStub

_PREFIX = "MARKUP_UNIT_"


def markup_from_proto(message: pb.GroupMarkup) -> GroupMarkup:
    unit = pb.MarkupUnit.Name(message.unit).removeprefix(_PREFIX)
    return GroupMarkup(
        client_group=message.client_group,
        symbol=message.symbol,
        unit="" if unit == "UNSPECIFIED" else unit,
        markup_bid=message.markup_bid,
        markup_ask=message.markup_ask,
        min_spread_points=message.min_spread_points,
        update_time=(
            message.update_time.ToDatetime(tzinfo=UTC) if message.HasField("update_time") else None
        ),
    )


def markup_to_proto(markup: GroupMarkup) -> pb.GroupMarkup:
    try:
        unit = pb.MarkupUnit.Value(_PREFIX + markup.unit.strip().upper())
    except ValueError:
        unit = pb.MARKUP_UNIT_UNSPECIFIED
    return pb.GroupMarkup(
        client_group=markup.client_group,
        symbol=markup.symbol,
        unit=unit,
        markup_bid=markup.markup_bid,
        markup_ask=markup.markup_ask,
        min_spread_points=markup.min_spread_points,
    )


def markup_to_proto_full(markup: GroupMarkup) -> pb.GroupMarkup:
    """``markup_to_proto`` with its update time (answers)."""
    message = markup_to_proto(markup)
    if markup.update_time is not None:
        message.update_time.FromDatetime(markup.update_time)
    return message


class QuotesMarkups:
    """``admin.markups.MarkupsBackend`` over quotes's gRPC."""

    def __init__(self, stub: QuotesStub | None, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    def _quotes(self) -> QuotesStub:
        if self._stub is None:
            raise Unavailable("quotes is not configured", reason="QUOTES_UNAVAILABLE")
        return self._stub

    async def list(self, group: str, symbol: str) -> list[GroupMarkup]:
        reply = await upstream(
            self._quotes().ListGroupMarkups(
                pb.ListGroupMarkupsRequest(client_group=group, symbol=symbol),
                timeout=self._deadline,
            )
        )
        return [markup_from_proto(m) for m in reply.markups]

    async def set(
        self, markup: GroupMarkup, request_id: str
    ) -> tuple[GroupMarkup | None, GroupMarkup]:
        reply = await upstream(
            self._quotes().SetGroupMarkup(
                pb.SetGroupMarkupRequest(markup=markup_to_proto(markup), request_id=request_id),
                timeout=self._deadline,
            )
        )
        before = markup_from_proto(reply.before) if reply.HasField("before") else None
        return before, markup_from_proto(reply.markup)

    async def delete(self, group: str, symbol: str, request_id: str) -> GroupMarkup:
        reply = await upstream(
            self._quotes().DeleteGroupMarkup(
                pb.DeleteGroupMarkupRequest(
                    client_group=group, symbol=symbol, request_id=request_id
                ),
                timeout=self._deadline,
            )
        )
        return markup_from_proto(reply.markup)
