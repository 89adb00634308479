"""Control HTTP API of the LP simulator: a thin layer over LpSimulator."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from fixgw.domain import MalformedDecimal, parse_fix_decimal
from fixgw.lpsim.simulator import LpSimulator


class ConfigUpdate(BaseModel):
    """Fields left out keep their value."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    latency_ms: int | None = Field(None, alias="latencyMs", ge=0)
    reject_rate: float | None = Field(None, alias="rejectRate", ge=0, le=1)
    partial_fills: int | None = Field(None, alias="partialFills", ge=1, le=100)
    tick_interval_ms: int | None = Field(None, alias="tickIntervalMs", ge=1)
    walk: bool | None = None


class PriceUpdate(BaseModel):
    """Decimal strings, e.g. {"bid": "1.08450", "ask": "1.08460"}."""

    model_config = ConfigDict(extra="forbid")

    bid: str
    ask: str


def create_app(sim: LpSimulator) -> FastAPI:
    """The control API bound to one simulator."""
    app = FastAPI(title="fxmesh LP simulator", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/state")
    async def state() -> dict[str, Any]:
        return sim.state()

    @app.put("/config")
    async def put_config(update: ConfigUpdate) -> dict[str, Any]:
        try:
            return sim.update_config(**update.model_dump(exclude_none=True)).as_json()
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.put("/prices/{symbol}")
    async def put_price(symbol: str, update: PriceUpdate) -> dict[str, str]:
        try:
            bid = parse_fix_decimal(update.bid)
            ask = parse_fix_decimal(update.ask)
        except MalformedDecimal as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        try:
            sim.set_price(symbol, bid, ask)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=f"unknown symbol {symbol}") from exc
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return {"symbol": symbol, "bid": str(bid), "ask": str(ask)}

    @app.post("/disconnect")
    async def disconnect() -> dict[str, int]:
        return {"sessions": sim.disconnect()}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
