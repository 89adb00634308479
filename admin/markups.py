"""Client group markups: quotes owns ``quotes.group_markups``; admin lists and changes them through
quotes's group markup RPCs, role-guarded and audited with before / after (``admin.gate``).

A markup travels as quotes's ``GroupMarkup`` message; admin's documents (REST bodies, audit rows)
are its camelCase JSON: ``{clientGroup, symbol, unit: POINTS|PERCENT, markupBid, markupAsk,
minSpreadPoints, updateTime}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict

from admin.clients import upstream
from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.errors import Unavailable
from fxmesh.v1 import quotes_markups_pb2

if TYPE_CHECKING:
    from admin.clients import QuotesStub

Doc = dict[str, Any]


def markup_doc(message: quotes_markups_pb2.GroupMarkup) -> Doc:
    """A markup as the REST API shows it and the audit log keeps it."""
    doc = MessageToDict(message, always_print_fields_with_no_presence=True)
    doc["unit"] = str(doc.get("unit", "")).removeprefix("MARKUP_UNIT_")
    return doc


def unit_of(name: str) -> quotes_markups_pb2.MarkupUnit.ValueType:
    """POINTS / PERCENT as the enum (anything else: UNSPECIFIED, which quotes refuses)."""
    try:
        return quotes_markups_pb2.MarkupUnit.Value(f"MARKUP_UNIT_{name.strip().upper()}")
    except ValueError:
        return quotes_markups_pb2.MARKUP_UNIT_UNSPECIFIED


class MarkupsDesk:
    """List, set and delete group markups in quotes."""

    def __init__(self, gate: Gate, quotes: QuotesStub | None, deadline: float) -> None:
        self._gate = gate
        self._quotes = quotes
        self._deadline = deadline

    def _stub(self) -> QuotesStub:
        if self._quotes is None:
            raise Unavailable("quotes is not configured", reason="QUOTES_UNAVAILABLE")
        return self._quotes

    async def list(
        self, ctx: RequestContext, group: str = "", symbol: str = ""
    ) -> list[quotes_markups_pb2.GroupMarkup]:
        async with self._gate.guard(ctx, Op.MARKUPS_LIST):
            reply = await upstream(
                self._stub().ListGroupMarkups(
                    quotes_markups_pb2.ListGroupMarkupsRequest(client_group=group, symbol=symbol),
                    timeout=self._deadline,
                )
            )
            return list(reply.markups)

    async def set(
        self, ctx: RequestContext, markup: quotes_markups_pb2.GroupMarkup
    ) -> quotes_markups_pb2.GroupMarkup:
        group, symbol = markup.client_group.strip(), markup.symbol.strip().upper()
        async with self._gate.guard(ctx, Op.MARKUP_SET, f"markup:{group}/{symbol}") as audit:
            audit.details = markup_doc(markup)
            reply = await upstream(
                self._stub().SetGroupMarkup(
                    quotes_markups_pb2.SetGroupMarkupRequest(
                        markup=markup, request_id=ctx.request_id
                    ),
                    timeout=self._deadline,
                )
            )
            audit.before = markup_doc(reply.before) if reply.HasField("before") else None
            audit.after = markup_doc(reply.markup)
            return reply.markup

    async def delete(
        self, ctx: RequestContext, group: str, symbol: str
    ) -> quotes_markups_pb2.GroupMarkup:
        group, symbol = group.strip(), symbol.strip().upper()
        async with self._gate.guard(ctx, Op.MARKUP_DELETE, f"markup:{group}/{symbol}") as audit:
            reply = await upstream(
                self._stub().DeleteGroupMarkup(
                    quotes_markups_pb2.DeleteGroupMarkupRequest(
                        client_group=group, symbol=symbol, request_id=ctx.request_id
                    ),
                    timeout=self._deadline,
                )
            )
            audit.before = markup_doc(reply.markup)
            audit.after = None
            return reply.markup
