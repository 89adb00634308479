"""The simulator's runtime knobs (``PUT /config``) and its one-shot faults (``POST /faults``).

Knobs are a frozen ``SimConfig`` replaced whole on every change, so a decision in flight sees one
consistent set. Faults are counted: "the next N orders get this", consumed in arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any, Literal

OrderStyle = Literal["MARKET", "LIMIT_IOC", "LIMIT_FOK", "LIMIT"]
ORDER_STYLES: tuple[OrderStyle, ...] = ("MARKET", "LIMIT_IOC", "LIMIT_FOK", "LIMIT")
EXPIRE_EXEC_TYPES = ("4", "C")  # Canceled / Expired: how an IOC remainder is reported
MIN_CUSTOM_TAG = 5000  # user-defined fields start here (FIX)

FaultKind = Literal["reject", "silence", "businessReject", "sessionReject"]
FAULT_KINDS: tuple[FaultKind, ...] = ("reject", "silence", "businessReject", "sessionReject")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Runtime knobs (changeable while running, see ``LpSimulator.update_config``)."""

    latency_ms: int = 0
    """Delay before an order (or cancel) is answered."""
    reject_rate: float = 0.0
    """Share of orders rejected (ExecType 8, OrdRejReason 99) with ``reject_text``."""
    reject_text: str = "simulated reject"
    partial_fills: int = 1
    """Fill reports per filled quantity (the quantity split evenly)."""
    tick_interval_ms: int = 100
    walk: bool = True
    accepted_styles: tuple[OrderStyle, ...] = ORDER_STYLES
    """Order styles accepted; others are rejected (OrdRejReason 11) with a Text naming them."""
    fill_ratio: Decimal = Decimal(1)
    """Share of a MARKET / LIMIT_IOC order's quantity filled; the rest is expired (FOK: all)."""
    expire_exec_type: str = "4"
    """ExecType (= OrdStatus) of an expired IOC/FOK remainder: 4 Canceled or C Expired."""
    slippage_points: int = 0
    """Fill this many points worse than the quote, within a limit price (else the IOC expires)."""
    duplicate_exec_ids: bool = False
    """Send every fill report twice with the same ExecID."""
    legacy_exec_type: bool = False
    """FIX 4.2 style fills: ExecType 1 (partial fill) / 2 (fill) instead of F."""
    symbol_map: Mapping[str, str] = field(default_factory=dict)
    """Our symbol -> the LP's wire name (e.g. EURUSD -> EUR/USD), market data and orders."""
    custom_tags: Mapping[int, str] = field(default_factory=dict)
    """Extra tags (>= 5000) written on every ExecutionReport."""
    depth_sizes: tuple[Decimal, ...] = (Decimal(1_000_000), Decimal(4_000_000), Decimal(15_000_000))
    """Depth subscriptions (MarketDepth != 1): the size of each level, best first (units)."""
    depth_step_points: int = 5
    """Depth subscriptions: points between one level's price and the next one's."""

    def __post_init__(self) -> None:
        problems = []
        if self.latency_ms < 0:
            problems.append("latencyMs >= 0")
        if not 0 <= self.reject_rate <= 1:
            problems.append("rejectRate in [0,1]")
        if self.partial_fills < 1:
            problems.append("partialFills >= 1")
        if self.tick_interval_ms < 1:
            problems.append("tickIntervalMs >= 1")
        if not self.accepted_styles or set(self.accepted_styles) - set(ORDER_STYLES):
            problems.append(f"acceptedStyles: a non-empty subset of {list(ORDER_STYLES)}")
        if not Decimal(0) <= self.fill_ratio <= Decimal(1):
            problems.append("fillRatio in [0,1]")
        if self.expire_exec_type not in EXPIRE_EXEC_TYPES:
            problems.append(f"expireExecType one of {list(EXPIRE_EXEC_TYPES)}")
        if self.slippage_points < 0:
            problems.append("slippagePoints >= 0")
        wire = list(self.symbol_map.values())
        if len(set(wire)) != len(wire) or not all(self.symbol_map.values()):
            problems.append("symbolMap: distinct, non-empty LP names")
        if not self.depth_sizes or any(size <= 0 for size in self.depth_sizes):
            problems.append("depthSizes: positive sizes")
        if self.depth_step_points < 1:
            problems.append("depthStepPoints >= 1")
        if any(tag < MIN_CUSTOM_TAG for tag in self.custom_tags):
            problems.append(f"customTags: tags >= {MIN_CUSTOM_TAG}")
        if problems:
            raise ValueError("; ".join(problems))

    def changed(self, **changes: Any) -> SimConfig:
        """A copy with ``changes`` (None values ignored); ValueError on unknown keys or values."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = {k: v for k, v in changes.items() if v is not None}
        if "accepted_styles" in values:
            values["accepted_styles"] = tuple(values["accepted_styles"])
        if "fill_ratio" in values:
            values["fill_ratio"] = Decimal(str(values["fill_ratio"]))
        if "symbol_map" in values:
            values["symbol_map"] = dict(values["symbol_map"])
        if "depth_sizes" in values:
            values["depth_sizes"] = tuple(Decimal(str(v)) for v in values["depth_sizes"])
        if "custom_tags" in values:
            values["custom_tags"] = {int(k): str(v) for k, v in values["custom_tags"].items()}
        return replace(self, **values)

    def as_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "rejectRate": self.reject_rate,
            "rejectText": self.reject_text,
            "partialFills": self.partial_fills,
            "tickIntervalMs": self.tick_interval_ms,
            "walk": self.walk,
            "acceptedStyles": list(self.accepted_styles),
            "fillRatio": str(self.fill_ratio),
            "expireExecType": self.expire_exec_type,
            "slippagePoints": self.slippage_points,
            "duplicateExecIds": self.duplicate_exec_ids,
            "legacyExecType": self.legacy_exec_type,
            "symbolMap": dict(self.symbol_map),
            "customTags": {str(k): v for k, v in sorted(self.custom_tags.items())},
            "depthSizes": [str(size) for size in self.depth_sizes],
            "depthStepPoints": self.depth_step_points,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one order instead of (or on top of) the normal answer.

    - ``reject``: ExecutionReport rejected (OrdRejReason 99) with ``text``.
    - ``silence``: no report at all; the order still executes and a status query tells its true
      state. ``late_ms`` set: its reports are sent that much later. ``forget``: the order is
      dropped as if never received (a status query answers "unknown order").
    - ``businessReject``: a BusinessMessageReject (35=j, RefMsgType D) with ``text``; no order.
    - ``sessionReject``: a session-level Reject (35=3, RefSeqNum = the order's) with ``text``.
    """

    kind: FaultKind
    text: str | None = None
    late_ms: int | None = None
    forget: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "lateMs": self.late_ms, "forget": self.forget}


@dataclass(slots=True)
class PendingFault:
    fault: Fault
    remaining: int


class FaultQueue:
    """Faults for the next orders, first queued first used."""

    def __init__(self) -> None:
        self._pending: list[PendingFault] = []

    def add(self, fault: Fault, count: int) -> None:
        if count < 1:
            raise ValueError("count >= 1")
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"kind one of {list(FAULT_KINDS)}")
        if fault.late_ms is not None and (fault.kind != "silence" or fault.late_ms < 0):
            raise ValueError("lateMs >= 0, for silence only")
        if fault.forget and (fault.kind != "silence" or fault.late_ms is not None):
            raise ValueError("forget: for silence without lateMs only")
        self._pending.append(PendingFault(fault, count))

    def take(self) -> Fault | None:
        """The fault for the next order, or None."""
        if not self._pending:
            return None
        head = self._pending[0]
        head.remaining -= 1
        if head.remaining == 0:
            self._pending.pop(0)
        return head.fault

    def clear(self) -> int:
        count = sum(p.remaining for p in self._pending)
        self._pending.clear()
        return count

    def as_json(self) -> list[dict[str, Any]]:
        return [{**p.fault.as_json(), "remaining": p.remaining} for p in self._pending]
