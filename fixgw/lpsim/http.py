"""Control HTTP API of the LP simulator: a thin layer over LpSimulator.

camelCase JSON, decimals as strings, 422 on bad input:

- ``GET /state[?max_orders=N]``: config, sessions (with next sequence numbers), prices, pending
  faults, counters, acceptor up/down and the latest orders; ``GET /orders/{clOrdId}``.
- ``PUT /config``: any knob of ``fixgw.lpsim.knobs.SimConfig`` (latencyMs, rejectRate, rejectText,
  partialFills, tickIntervalMs, walk, acceptedStyles, fillRatio, expireExecType, slippagePoints,
  duplicateExecIds, legacyExecType, symbolMap, customTags, depthSizes, depthStepPoints); fields
  left out keep their value.
- ``POST /faults`` ``{"kind", "count", "text", "lateMs", "forget"}`` / ``DELETE /faults``: faults
  for the next orders (reject, silence, businessReject, sessionReject).
- ``POST /gap`` ``{"count", "probe"}``: skip outgoing sequence numbers.
- ``POST /disconnect``; ``POST /restart`` ``{"downMs"}`` (409 while one is in progress).
- ``PUT /prices/{symbol}``, ``PUT|DELETE /streams/{symbol}``, ``GET /metrics``, ``GET /healthz``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fixgw.domain import MalformedDecimal, parse_fix_decimal
from fixgw.lpsim.knobs import MIN_CUSTOM_TAG, Fault, FaultKind, OrderStyle
from fixgw.lpsim.simulator import LpSimulator


class ConfigUpdate(BaseModel):
    """Fields left out keep their value; decimals as strings."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    latency_ms: int | None = Field(None, alias="latencyMs", ge=0)
    reject_rate: float | None = Field(None, alias="rejectRate", ge=0, le=1)
    reject_text: str | None = Field(None, alias="rejectText", min_length=1)
    partial_fills: int | None = Field(None, alias="partialFills", ge=1, le=100)
    tick_interval_ms: int | None = Field(None, alias="tickIntervalMs", ge=1)
    walk: bool | None = None
    accepted_styles: list[OrderStyle] | None = Field(None, alias="acceptedStyles", min_length=1)
    fill_ratio: str | None = Field(None, alias="fillRatio")
    expire_exec_type: Literal["4", "C"] | None = Field(None, alias="expireExecType")
    slippage_points: int | None = Field(None, alias="slippagePoints", ge=0)
    duplicate_exec_ids: bool | None = Field(None, alias="duplicateExecIds")
    legacy_exec_type: bool | None = Field(None, alias="legacyExecType")
    symbol_map: dict[str, str] | None = Field(None, alias="symbolMap")
    custom_tags: dict[int, str] | None = Field(None, alias="customTags")
    depth_sizes: list[str] | None = Field(None, alias="depthSizes", min_length=1, max_length=20)
    depth_step_points: int | None = Field(None, alias="depthStepPoints", ge=1)

    @field_validator("depth_sizes")
    @classmethod
    def _positive_sizes(cls, value: list[str] | None) -> list[str] | None:
        for size in value or ():
            try:
                if parse_fix_decimal(size) <= 0:
                    raise ValueError("depthSizes: positive sizes")
            except MalformedDecimal as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("fill_ratio")
    @classmethod
    def _decimal_ratio(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ratio = parse_fix_decimal(value)
            except MalformedDecimal as exc:
                raise ValueError(str(exc)) from exc
            if not 0 <= ratio <= 1:
                raise ValueError("fillRatio in [0,1]")
        return value

    @field_validator("custom_tags")
    @classmethod
    def _user_tags(cls, value: dict[int, str] | None) -> dict[int, str] | None:
        if value is not None and any(tag < MIN_CUSTOM_TAG for tag in value):
            raise ValueError(f"customTags: tags >= {MIN_CUSTOM_TAG}")
        return value


class FaultRequest(BaseModel):
    """Queue a fault for the next ``count`` orders (see ``fixgw.lpsim.knobs.Fault``)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    kind: FaultKind
    count: int = Field(1, ge=1, le=1_000_000)
    text: str | None = Field(None, min_length=1)
    late_ms: int | None = Field(None, alias="lateMs", ge=0, le=3_600_000)
    forget: bool = False


class GapRequest(BaseModel):
    """Skip ``count`` outgoing sequence numbers; ``probe`` sends a Heartbeat right after."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=1_000_000)
    probe: bool = True


class RestartRequest(BaseModel):
    """Stop the FIX acceptor and start it again after ``downMs``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    down_ms: int = Field(1000, alias="downMs", ge=0, le=600_000)


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
    async def state(max_orders: int = 100) -> dict[str, Any]:
        """Config, sessions, prices, pending faults, counters and the latest orders."""
        return sim.state(max_orders=max(0, max_orders))

    @app.put("/config")
    async def put_config(update: ConfigUpdate) -> dict[str, Any]:
        changes = update.model_dump(exclude_none=True)
        if "fill_ratio" in changes:
            changes["fill_ratio"] = parse_fix_decimal(changes["fill_ratio"])
        try:
            return sim.update_config(**changes).as_json()
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.get("/orders/{cl_ord_id}")
    async def get_order(cl_ord_id: str) -> dict[str, Any]:
        """The order(s) with this ClOrdID as the simulator knows them."""
        found = sim.order(cl_ord_id)
        if not found:
            raise HTTPException(status_code=404, detail=f"unknown order {cl_ord_id}")
        return {"orders": [o.as_json() for o in found]}

    @app.post("/faults")
    async def post_fault(request: FaultRequest) -> dict[str, Any]:
        """Queue a fault for the next orders; the pending faults."""
        fault = Fault(request.kind, request.text, request.late_ms, request.forget)
        try:
            return {"faults": sim.add_fault(fault, request.count)}
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.delete("/faults")
    async def delete_faults() -> dict[str, int]:
        """Drop every pending fault; how many orders they would have hit."""
        return {"cleared": sim.faults.clear()}

    @app.post("/gap")
    async def post_gap(request: GapRequest) -> dict[str, Any]:
        """Skip outgoing sequence numbers on every logged-on session."""
        return {"sessions": sim.skip_sequence(request.count, request.probe)}

    @app.post("/restart")
    async def post_restart(request: RestartRequest) -> dict[str, Any]:
        """Stop the acceptor (sessions drop) and start it ``downMs`` later, store kept."""
        try:
            await sim.restart(request.down_ms)
        except RuntimeError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return {"downMs": request.down_ms, "acceptor": "down"}

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
