"""Liquidity providers, FIX sessions and the house exposure, over fixgw's and router's RPCs.

An LP is one FIX session in fixgw (its configured name is the LP id); fixgw answers NOT_FOUND
``LP_NOT_FOUND`` for an unknown one.
"""

from __future__ import annotations

from admin.accounts import upstream
from admin.convert import lp_state
from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.errors import InvalidArgument
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, router_pb2, router_pb2_grpc

LP_ID_MAX = 64


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
        fixgw: fixgw_pb2_grpc.FixGatewayServiceAsyncStub,
        router: router_pb2_grpc.RouterServiceAsyncStub,
        deadline: float,
    ) -> None:
        self._gate = gate
        self._fixgw = fixgw
        self._router = router
        self._deadline = deadline

    async def _sessions(self) -> list[fixgw_pb2.LpSession]:
        reply = await upstream(
            self._fixgw.ListSessions(fixgw_pb2.ListSessionsRequest(), timeout=self._deadline)
        )
        return list(reply.sessions)

    async def _session(self, lp_id: str) -> fixgw_pb2.LpSession:
        reply = await upstream(
            self._fixgw.GetSession(fixgw_pb2.GetSessionRequest(name=lp_id), timeout=self._deadline)
        )
        return reply.session

    async def _switch(self, op: Op, lp_id: str) -> fixgw_pb2.LpSession:
        if op in (Op.LP_CONNECT, Op.FIX_CONNECT):
            connected = await upstream(
                self._fixgw.Connect(fixgw_pb2.ConnectRequest(name=lp_id), timeout=self._deadline)
            )
            return connected.session
        if op in (Op.LP_DISCONNECT, Op.FIX_DISCONNECT):
            down = await upstream(
                self._fixgw.Disconnect(
                    fixgw_pb2.DisconnectRequest(name=lp_id), timeout=self._deadline
                )
            )
            return down.session
        again = await upstream(
            self._fixgw.Reconnect(fixgw_pb2.ReconnectRequest(name=lp_id), timeout=self._deadline)
        )
        return again.session

    async def list_lps(
        self, ctx: RequestContext, op: Op = Op.LPS_LIST
    ) -> list[fixgw_pb2.LpSession]:
        """Every LP session (``Op.LPS_LIST``, or ``Op.FIX_STATUS`` for the FIX view)."""
        async with self._gate.guard(ctx, op):
            return await self._sessions()

    async def switch_lp(self, ctx: RequestContext, op: Op, lp_id: str) -> fixgw_pb2.LpSession:
        """Connect, disconnect or reconnect one LP (``Op.LP_*``)."""
        async with self._gate.guard(ctx, op, f"lp:{lp_id}") as audit:
            lp_id = lp_id_of(lp_id)
            audit.before = lp_state(await self._session(lp_id))
            session = await self._switch(op, lp_id)
            audit.after = lp_state(session)
            return session

    async def switch_fix(
        self, ctx: RequestContext, op: Op, lp_id: str
    ) -> list[fixgw_pb2.LpSession]:
        """Connect or disconnect every FIX session, or one LP's (``Op.FIX_*``)."""
        async with self._gate.guard(ctx, op, f"lp:{lp_id}" if lp_id else "lp:*") as audit:
            if lp_id:
                targets = [await self._session(lp_id_of(lp_id))]
            else:
                targets = await self._sessions()
            audit.before = {"sessions": [lp_state(s) for s in targets]}
            done = [await self._switch(op, s.name) for s in targets]
            audit.after = {"sessions": [lp_state(s) for s in done]}
            return done

    async def exposure(self, ctx: RequestContext) -> list[router_pb2.SymbolExposure]:
        async with self._gate.guard(ctx, Op.EXPOSURE_GET):
            reply = await upstream(
                self._router.GetHouseExposure(
                    router_pb2.GetHouseExposureRequest(), timeout=self._deadline
                )
            )
            return list(reply.exposures)
