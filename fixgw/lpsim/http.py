"""Control HTTP API of the LP simulator: a thin layer over LpSimulator."""

from __future__ import annotations

from typing import Any, Literal

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


class StreamRequest(BaseModel):
    """Start a price stream (see ``fixgw.lpsim.streams``); decimals as strings."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    ticks_per_second: float = Field(alias="ticksPerSecond", gt=0, le=100_000)
    pattern: Literal["ramp", "walk"] = "ramp"
    first_seq: int = Field(0, alias="firstSeq", ge=0)
    bid: str | None = None
    ask: str | None = None
    step_points: int = Field(1, alias="stepPoints", ge=0)
    cycle: int = Field(1000, ge=1)
    start_delay_ms: int = Field(100, alias="startDelayMs", ge=0, le=60_000)


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

    @app.put("/streams/{symbol}")
    async def put_stream(symbol: str, request: StreamRequest) -> dict[str, Any]:
        """Start (or replace) ``symbol``'s stream: its ticks at a fixed rate, from the simulator."""
        try:
            bid = None if request.bid is None else parse_fix_decimal(request.bid)
            ask = None if request.ask is None else parse_fix_decimal(request.ask)
        except MalformedDecimal as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        try:
            spec = await sim.start_stream(
                symbol,
                request.ticks_per_second,
                pattern=request.pattern,
                first_seq=request.first_seq,
                bid=bid,
                ask=ask,
                step_points=request.step_points,
                cycle=request.cycle,
                start_delay_seconds=request.start_delay_ms / 1000,
            )
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=f"unknown symbol {symbol}") from exc
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return spec.as_json()

    @app.delete("/streams/{symbol}")
    async def delete_stream(symbol: str) -> dict[str, Any]:
        """Stop ``symbol``'s stream; what it sent (sent, skipped, lastSeq, lagMs)."""
        stopped = await sim.stop_stream(symbol)
        if stopped is None:
            raise HTTPException(status_code=404, detail=f"no stream on {symbol}")
        return stopped

    @app.post("/disconnect")
    async def disconnect() -> dict[str, int]:
        return {"sessions": sim.disconnect()}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
