"""The authenticated account: live summary and open positions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edge.convert import to_json
from edge.deps import Client, Resources
from fxmesh.v1 import oms_pb2

router = APIRouter(prefix="/api/account", tags=["account"])


@router.get("/summary")
async def account_summary(client: Client, res: Resources) -> dict[str, Any]:
    """Balance, equity, margin, free margin and margin level (decimal strings)."""
    reply = await res.oms.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=client.subject),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return to_json(reply)


@router.get("/positions")
async def account_positions(client: Client, res: Resources) -> dict[str, Any]:
    """Open positions marked to the current quotes."""
    reply = await res.oms.ListPositions(
        oms_pb2.ListPositionsRequest(account_id=client.subject),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return {"positions": [to_json(p) for p in reply.positions]}
