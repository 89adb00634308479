"""Liquidity providers, FIX sessions and the house exposure, over fixgw's and router's RPCs.

An LP is one FIX session in fixgw (its configured name is the LP id); fixgw answers NOT_FOUND
``LP_NOT_FOUND`` for an unknown one.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from admin.clients import FixgwClient, QuotesClient, RouterClient
from admin.documents import lp_definition_to_json, lp_record, lp_state
from admin.domain import (
    LpDefinition,
    LpFeed,
    LpSession,
    OrderRouting,
    RequestContext,
    SymbolExposure,
)
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.errors import InvalidArgument, Unavailable
from fxmesh.reasons import Reason

LP_ID_MAX = 64


def _jsonable(value: Any) -> Any:
    """A definition field as the audit row's JSON keeps it."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def lp_id_of(value: str) -> str:
    text = value.strip()
    if not text or len(text) > LP_ID_MAX:
        raise InvalidArgument(
            "lpId must be 1..64 characters", reason="INVALID_LP_ID", metadata={"field": "lpId"}
        )
    return text


class LiquidityDesk:
    def __init__(
        self,
        gate: Gate,
        fixgw: FixgwClient,
        router: RouterClient,
        quotes: QuotesClient | None = None,
    ) -> None:
        self._quotes = quotes
        self._gate = gate
        self._fixgw = fixgw
        self._router = router

    async def _switch(self, op: Op, lp_id: str) -> LpSession:
        if op in (Op.LP_CONNECT, Op.FIX_CONNECT):
            return await self._fixgw.connect(lp_id)
        if op in (Op.LP_DISCONNECT, Op.FIX_DISCONNECT):
            return await self._fixgw.disconnect(lp_id)
        return await self._fixgw.reconnect(lp_id)

    async def list_lps(self, ctx: RequestContext, op: Op = Op.LPS_LIST) -> list[LpSession]:
        """Every LP session (``Op.LPS_LIST``, or ``Op.FIX_STATUS`` for the FIX view)."""
        async with self._gate.guard(ctx, op):
            return await self._fixgw.sessions()

    async def switch_lp(self, ctx: RequestContext, op: Op, lp_id: str) -> LpSession:
        """Connect, disconnect or reconnect one LP (``Op.LP_*``)."""
        async with self._gate.guard(ctx, op, f"lp:{lp_id}") as audit:
            lp_id = lp_id_of(lp_id)
            audit.before = lp_state(await self._fixgw.session(lp_id))
            session = await self._switch(op, lp_id)
            audit.after = lp_state(session)
            return session

    async def switch_fix(self, ctx: RequestContext, op: Op, lp_id: str) -> list[LpSession]:
        """Connect or disconnect every FIX session, or one LP's (``Op.FIX_*``)."""
        async with self._gate.guard(ctx, op, f"lp:{lp_id}" if lp_id else "lp:*") as audit:
            if lp_id:
                targets = [await self._fixgw.session(lp_id_of(lp_id))]
            else:  # every session: a disabled LP has none (it is enabled on its own)
                targets = [s for s in await self._fixgw.sessions() if s.lp_enabled]
            audit.before = {"sessions": [lp_state(s) for s in targets]}
            done = [await self._switch(op, s.name) for s in targets]
            audit.after = {"sessions": [lp_state(s) for s in done]}
            return done

    # -- LP administration (fixgw keeps the LPs; a change restarts only that LP's session) -------

    async def create_lp(
        self, ctx: RequestContext, definition: LpDefinition, enabled: bool = True
    ) -> LpSession:
        """Add an LP (``Op.LP_CREATE``): 409 LP_EXISTS / LP_SESSION_IN_USE, 400 INVALID_LP_CONFIG."""
        async with self._gate.guard(ctx, Op.LP_CREATE, f"lp:{definition.name}") as audit:
            audit.details = {**lp_definition_to_json(definition), "enabled": enabled}
            lp_id_of(definition.name)
            session = await self._fixgw.create_lp(definition, enabled)
            audit.after = lp_record(session)
            return session

    async def update_lp(
        self, ctx: RequestContext, lp_id: str, changes: dict[str, Any]
    ) -> LpSession:
        """Change an LP's definition (``Op.LP_UPDATE``): the fields in ``changes`` (names of
        ``LpDefinition``), the others as they are."""
        async with self._gate.guard(ctx, Op.LP_UPDATE, f"lp:{lp_id}") as audit:
            audit.details = {k: _jsonable(v) for k, v in changes.items()}
            lp_id = lp_id_of(lp_id)
            current = await self._fixgw.session(lp_id)
            audit.before = lp_record(current)
            if current.definition is None:
                raise Unavailable("fixgw did not report the LP's definition")
            known = {f.name for f in fields(LpDefinition)} - {"name"}
            definition = replace(
                current.definition, **{k: v for k, v in changes.items() if k in known}
            )
            session = await self._fixgw.update_lp(definition)
            audit.after = lp_record(session)
            return session

    async def delete_lp(self, ctx: RequestContext, lp_id: str) -> LpSession:
        """Delete an LP (``Op.LP_DELETE``); the LP as it was is answered."""
        async with self._gate.guard(ctx, Op.LP_DELETE, f"lp:{lp_id}") as audit:
            lp_id = lp_id_of(lp_id)
            audit.before = lp_record(await self._fixgw.session(lp_id))
            session = await self._fixgw.delete_lp(lp_id)
            audit.after = {"lpId": lp_id, "deleted": True}
            return session

    async def set_lp_enabled(self, ctx: RequestContext, lp_id: str, enabled: bool) -> LpSession:
        """Enable or disable an LP (``Op.LP_ENABLE`` / ``Op.LP_DISABLE``)."""
        op = Op.LP_ENABLE if enabled else Op.LP_DISABLE
        async with self._gate.guard(ctx, op, f"lp:{lp_id}") as audit:
            lp_id = lp_id_of(lp_id)
            audit.before = lp_record(await self._fixgw.session(lp_id))
            session = await self._fixgw.set_lp_enabled(lp_id, enabled)
            audit.after = lp_record(session)
            return session

    async def exposure(self, ctx: RequestContext) -> list[SymbolExposure]:
        async with self._gate.guard(ctx, Op.EXPOSURE_GET):
            return await self._router.house_exposure()

    async def lp_board(self, ctx: RequestContext, lp: str = "", symbol: str = "") -> list[LpFeed]:
        """quotes' statistics of every LP feed (or of one LP / symbol): ticks per minute, drops
        by reason, quote latency, since when it streams."""
        async with self._gate.guard(ctx, Op.LP_BOARD):
            if self._quotes is None:
                raise Unavailable("quotes is not configured", metadata={"service": "quotes"})
            return await self._quotes.lp_feeds(lp.strip(), symbol.strip().upper())

    async def order_routing(self, ctx: RequestContext, order_id: str) -> OrderRouting:
        """Why ``order_id`` went where it went (router's Explain)."""
        order_id = order_id.strip()
        async with self._gate.guard(ctx, Op.ORDER_ROUTING_GET, order_id):
            if not order_id:
                raise InvalidArgument(
                    "order id is required",
                    reason=Reason.MISSING_FIELD,
                    metadata={"field": "orderId"},
                )
            return await self._router.order_routing(order_id)

    async def routing_what_if(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        """Router's WhatIf for a risk manager (``Op.ROUTING_WHAT_IF``), audited with the period,
        the proposed tables and the summary of the answer. ``request`` and the answer are router's
        WhatIfRequest / WhatIfResponse in their JSON form (docs/routing.md): admin adds the
        permission and the audit, router validates the proposal (WHATIF_INVALID)."""
        async with self._gate.guard(ctx, Op.ROUTING_WHAT_IF, "routing:what-if") as audit:
            config = request.get("config")
            audit.details = {
                "startTime": request.get("startTime", ""),
                "endTime": request.get("endTime", ""),
                "tables": sorted(config) if isinstance(config, dict) else [],
            }
            audit.before = dict(audit.details)
            result = await self._router.what_if(request)
            recorded, proposed = result.get("recorded", {}), result.get("proposed", {})
            audit.after = {
                "orders": result.get("orders", 0),
                "changedCount": result.get("changedCount", 0),
                "baseConfigVersion": result.get("baseConfigVersion", ""),
                "recordedHousePnlUsd": recorded.get("housePnlUsd", ""),
                "proposedHousePnlUsd": proposed.get("housePnlUsd", ""),
            }
            return result
