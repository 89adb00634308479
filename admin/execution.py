"""The execution pages: execution mode (global and per symbol), client overrides, group routing
rules and routing thresholds over router's ``GetRoutingConfig`` / ``ChangeRoutingConfig``, and the
A/B/C book split over oms's ``GetBookSplit``.

Router owns the configuration and its version: every change here is one ``ChangeRoutingConfig``
(one transaction, one new version, applied to the next order), made against the version the
caller read when it says so (``expectedVersion``: ABORTED / 409 ``CONFIG_VERSION_CHANGED`` when
stale). Each change is audited with the part of the configuration it touched before and after.

The global mode is a routing rule of reason ``EXECUTION_MODE_GLOBAL`` (setting B removes it: B is
the default); a symbol's own mode is a rule of reason ``EXECUTION_MODE_SYMBOL`` with the symbol's
B-book maximum (``maxVolume``), fallback when no LP is healthy (``fallbackMode``) and priority LPs
(``priorityLps``). Group rules are the other rules (``docs/routing.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt
from fxmesh.reasons import Reason

EXECUTION_MODE_GLOBAL = "EXECUTION_MODE_GLOBAL"
EXECUTION_MODE_SYMBOL = "EXECUTION_MODE_SYMBOL"
_RESERVED = (EXECUTION_MODE_GLOBAL, EXECUTION_MODE_SYMBOL)
BOOKS = ("A", "B", "C")
OVER_LIMITS = ("A", "SPLIT")
FALLBACKS = ("B", "REJECT")
ZERO = Decimal(0)
T = TypeVar("T")


# --- the configuration as admin sees it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupRule:
    """A routing rule (``client_group`` / ``symbol`` None: any)."""

    rule_id: int
    priority: int
    client_group: str | None
    symbol: str | None
    book: str
    hedge_ratio: Decimal
    reason: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ClientOverride:
    """One client account forced to a book."""

    account_id: str
    book: str
    hedge_ratio: Decimal
    reason: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class VolumeThreshold:
    """The B-book maximum of one order in a scope (None: any); ``max_volume`` None in a change
    removes it."""

    client_group: str | None
    symbol: str | None
    max_volume: Decimal | None
    over_limit: str = "SPLIT"


@dataclass(frozen=True, slots=True)
class ExposureThreshold:
    """The house's maximum absolute net in a symbol; None in a change removes it."""

    symbol: str
    max_net_volume: Decimal | None


@dataclass(frozen=True, slots=True)
class FlowThresholdRow:
    """When an account's flow is profitable (level 3b) or toxic (level 3c), for one client group
    (None: any). A None bound is not checked. In a change, ``remove`` removes the scope's row."""

    client_group: str | None
    min_closed_deals: int = 1
    net_profit_min: Decimal | None = None
    win_rate_min: Decimal | None = None
    min_markout_fills: int = 1
    toxicity_min_bps: Decimal | None = None
    latency_arb_share_min: Decimal | None = None
    remove: bool = False


@dataclass(frozen=True, slots=True)
class VolatilityThresholdRow:
    """What an order in a volatile symbol gets (level 3a), for one symbol (None: any). In a
    change, ``remove`` removes the scope's row (``max_bps`` is then not read)."""

    symbol: str | None
    max_bps: Decimal
    book: str = "A"
    hedge_ratio: Decimal = ZERO
    remove: bool = False


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    symbol: str
    lot_step: Decimal
    fallback: str
    preferred_lps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoutingSetup:
    """Router's routing configuration as of ``version``."""

    version: int
    rules: tuple[GroupRule, ...] = ()
    overrides: tuple[ClientOverride, ...] = ()
    volume_limits: tuple[VolumeThreshold, ...] = ()
    exposure_limits: tuple[ExposureThreshold, ...] = ()
    symbols: tuple[SymbolSettings, ...] = ()
    flow_thresholds: tuple[FlowThresholdRow, ...] = ()
    volatility_thresholds: tuple[VolatilityThresholdRow, ...] = ()


@dataclass(frozen=True, slots=True)
class SymbolMode:
    """A mode: the global one (``symbol`` None: only book and hedge ratio count) or a symbol's.

    In a change, ``fallback`` None keeps the symbol's fallback as it is.
    """

    symbol: str | None
    book: str
    hedge_ratio: Decimal = ZERO
    max_volume: Decimal | None = None
    over_limit: str = "SPLIT"
    fallback: str | None = None
    priority_lps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionMode:
    version: int
    global_book: str
    global_hedge_ratio: Decimal
    symbols: tuple[SymbolMode, ...]


@dataclass(frozen=True, slots=True)
class Thresholds:
    version: int
    volume_limits: tuple[VolumeThreshold, ...]
    exposure_limits: tuple[ExposureThreshold, ...]
    flow_thresholds: tuple[FlowThresholdRow, ...] = ()
    volatility_thresholds: tuple[VolatilityThresholdRow, ...] = ()


@dataclass(frozen=True, slots=True)
class VenueShare:
    venue: str
    book: str
    deals: int
    volume: Decimal
    client_net: Decimal


@dataclass(frozen=True, slots=True)
class BookShare:
    book: str
    deals: int
    volume: Decimal
    volume_percent: Decimal
    realized_pnl: Decimal
    commission: Decimal
    swap: Decimal
    client_net: Decimal
    venues: tuple[VenueShare, ...]


@dataclass(frozen=True, slots=True)
class BookSplitReport:
    start: datetime
    end: datetime
    total_volume: Decimal
    books: tuple[BookShare, ...]


# --- edits (what a change asks router to do) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoveSymbol:
    symbol: str


@dataclass(frozen=True, slots=True)
class RemoveOverride:
    account_id: str


@dataclass(frozen=True, slots=True)
class NewRule:
    rule: GroupRule


@dataclass(frozen=True, slots=True)
class RemoveRule:
    rule_id: int


Edit = (
    SymbolMode
    | RemoveSymbol
    | ClientOverride
    | RemoveOverride
    | NewRule
    | GroupRule
    | RemoveRule
    | VolumeThreshold
    | ExposureThreshold
    | FlowThresholdRow
    | VolatilityThresholdRow
)


@dataclass(frozen=True, slots=True)
class Changed:
    version: int
    before: RoutingSetup
    after: RoutingSetup
    created_rule_ids: tuple[int, ...] = ()


# --- views -----------------------------------------------------------------------------------


def execution_mode(setup: RoutingSetup) -> ExecutionMode:
    book, ratio = "B", ZERO
    for rule in setup.rules:
        if rule.reason == EXECUTION_MODE_GLOBAL and rule.enabled:
            book, ratio = rule.book, rule.hedge_ratio
    limits = {v.symbol: v for v in setup.volume_limits if v.client_group is None}
    settings = {s.symbol: s for s in setup.symbols}
    symbols = []
    for rule in setup.rules:
        if rule.reason != EXECUTION_MODE_SYMBOL or rule.symbol is None:
            continue
        limit = limits.get(rule.symbol)
        own = settings.get(rule.symbol)
        symbols.append(
            SymbolMode(
                symbol=rule.symbol,
                book=rule.book,
                hedge_ratio=rule.hedge_ratio,
                max_volume=limit.max_volume if limit is not None else None,
                over_limit=limit.over_limit if limit is not None else "SPLIT",
                fallback=own.fallback if own is not None else "REJECT",
                priority_lps=own.preferred_lps if own is not None else (),
            )
        )
    return ExecutionMode(
        setup.version, book, ratio, tuple(sorted(symbols, key=lambda m: m.symbol or ""))
    )


def group_rules(setup: RoutingSetup) -> list[GroupRule]:
    return [r for r in setup.rules if r.reason not in _RESERVED]


def thresholds(setup: RoutingSetup) -> Thresholds:
    return Thresholds(
        setup.version,
        setup.volume_limits,
        setup.exposure_limits,
        setup.flow_thresholds,
        setup.volatility_thresholds,
    )


def _override(setup: RoutingSetup, account_id: str) -> ClientOverride | None:
    return next((o for o in setup.overrides if o.account_id == account_id), None)


def _rule(setup: RoutingSetup, rule_id: int) -> GroupRule | None:
    return next(
        (r for r in setup.rules if r.rule_id == rule_id and r.reason not in _RESERVED), None
    )


# --- JSON (REST bodies and audit rows) -------------------------------------------------------


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def symbol_mode_json(m: SymbolMode) -> dict[str, Any]:
    return {
        "symbol": m.symbol,
        "mode": m.book,
        "hedgeRatio": fmt(m.hedge_ratio),
        "maxVolume": _dec(m.max_volume),
        "overLimit": m.over_limit,
        "fallbackMode": m.fallback,
        "priorityLps": list(m.priority_lps),
    }


def execution_mode_json(mode: ExecutionMode) -> dict[str, Any]:
    return {
        "configVersion": mode.version,
        "mode": mode.global_book,
        "hedgeRatio": fmt(mode.global_hedge_ratio),
        "symbols": [symbol_mode_json(s) for s in mode.symbols],
    }


def override_json(o: ClientOverride) -> dict[str, Any]:
    return {
        "accountId": o.account_id,
        "mode": o.book,
        "hedgeRatio": fmt(o.hedge_ratio),
        "reason": o.reason,
        "enabled": o.enabled,
    }


def rule_json(r: GroupRule) -> dict[str, Any]:
    return {
        "id": r.rule_id,
        "priority": r.priority,
        "clientGroup": r.client_group,
        "symbol": r.symbol,
        "mode": r.book,
        "hedgeRatio": fmt(r.hedge_ratio),
        "reason": r.reason,
        "enabled": r.enabled,
    }


def thresholds_json(t: Thresholds) -> dict[str, Any]:
    return {
        "configVersion": t.version,
        "volumeLimits": [
            {
                "clientGroup": v.client_group,
                "symbol": v.symbol,
                "maxVolume": _dec(v.max_volume),
                "overLimit": v.over_limit,
            }
            for v in t.volume_limits
        ],
        "exposureLimits": [
            {"symbol": e.symbol, "maxNetVolume": _dec(e.max_net_volume)} for e in t.exposure_limits
        ],
        "flowThresholds": [flow_threshold_json(f) for f in t.flow_thresholds],
        "volatilityThresholds": [volatility_threshold_json(v) for v in t.volatility_thresholds],
    }


def flow_threshold_json(f: FlowThresholdRow) -> dict[str, Any]:
    out: dict[str, Any] = {"clientGroup": f.client_group}
    if f.remove:
        return {**out, "remove": True}
    return {
        **out,
        "minClosedDeals": f.min_closed_deals,
        "netProfitMin": _dec(f.net_profit_min),
        "winRateMin": _dec(f.win_rate_min),
        "minMarkoutFills": f.min_markout_fills,
        "toxicityMinBps": _dec(f.toxicity_min_bps),
        "latencyArbShareMin": _dec(f.latency_arb_share_min),
    }


def volatility_threshold_json(v: VolatilityThresholdRow) -> dict[str, Any]:
    if v.remove:
        return {"symbol": v.symbol, "remove": True}
    return {
        "symbol": v.symbol,
        "maxBps": fmt(v.max_bps),
        "mode": v.book,
        "hedgeRatio": fmt(v.hedge_ratio),
    }


def book_split_json(report: BookSplitReport) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "totalVolume": fmt(report.total_volume),
        "books": [
            {
                "book": b.book,
                "deals": b.deals,
                "volume": fmt(b.volume),
                "volumePercent": fmt(b.volume_percent),
                "realizedPnl": fmt(b.realized_pnl),
                "commission": fmt(b.commission),
                "swap": fmt(b.swap),
                "clientNet": fmt(b.client_net),
                "venues": [
                    {
                        "venue": v.venue,
                        "book": v.book,
                        "deals": v.deals,
                        "volume": fmt(v.volume),
                        "clientNet": fmt(v.client_net),
                    }
                    for v in b.venues
                ],
            }
            for b in report.books
        ],
    }


# --- checks admin makes before asking router -------------------------------------------------


def _choice(value: str, allowed: tuple[str, ...], field: str, reason: str) -> str:
    text = value.strip().upper()
    if text not in allowed:
        raise InvalidArgument(
            f"{field} must be one of {', '.join(allowed)}", reason=reason, metadata={"field": field}
        )
    return text


def book_of(value: str, field: str = "mode") -> str:
    return _choice(value, BOOKS, field, "INVALID_BOOK")


def over_limit_of(value: str) -> str:
    return _choice(value, OVER_LIMITS, "overLimit", "INVALID_OVER_LIMIT")


def fallback_of(value: str) -> str:
    return _choice(value, FALLBACKS, "fallbackMode", "INVALID_FALLBACK_MODE")


def account_id_of(value: str) -> str:
    text = value.strip()
    if not text.isdigit() or len(text) > 19:
        raise InvalidArgument(
            "accountId must be digits",
            reason=Reason.INVALID_ACCOUNT_ID,
            metadata={"field": "accountId"},
        )
    return text


# --- the desk --------------------------------------------------------------------------------


class RoutingConfigPort:
    """What the desk needs of router and oms (``admin.execution_clients``)."""

    async def setup(self) -> RoutingSetup:
        raise NotImplementedError

    async def change(
        self, edits: list[Edit], expected_version: int | None, actor: str, note: str
    ) -> Changed:
        raise NotImplementedError

    async def account_exists(self, account_id: str) -> None:
        """Raise NotFound ACCOUNT_NOT_FOUND for an unknown account."""
        raise NotImplementedError

    async def book_split(self, start: datetime | None, end: datetime | None) -> BookSplitReport:
        raise NotImplementedError


class ExecutionDesk:
    def __init__(self, gate: Gate, port: RoutingConfigPort) -> None:
        self._gate = gate
        self._port = port

    async def checked(self, ctx: RequestContext, op: Op, target: str, parse: Callable[[], T]) -> T:
        """``parse()`` of a request's values; a bad one is audited (DENIED first if the role may
        not run ``op``, else FAILED) and raised, as a bad REST body is."""
        try:
            return parse()
        except InvalidArgument as exc:
            async with self._gate.guard(ctx, op, target):
                raise exc from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _change(
        self, ctx: RequestContext, op: Op, edits: list[Edit], expected: int | None
    ) -> Changed:
        return await self._port.change(edits, expected, ctx.principal.username, op.value)

    # execution mode

    async def execution_mode(self, ctx: RequestContext) -> ExecutionMode:
        async with self._gate.guard(ctx, Op.EXECUTION_MODE_GET):
            return execution_mode(await self._port.setup())

    async def set_execution_mode(
        self, ctx: RequestContext, mode: SymbolMode, expected: int | None
    ) -> ExecutionMode:
        target = f"execution_mode:{mode.symbol or '*'}"
        async with self._gate.guard(ctx, Op.EXECUTION_MODE_SET, target) as audit:
            audit.details = symbol_mode_json(mode)
            changed = await self._change(ctx, Op.EXECUTION_MODE_SET, [mode], expected)
            audit.before = _mode_slice(changed.before, mode.symbol)
            audit.after = _mode_slice(changed.after, mode.symbol)
            return execution_mode(changed.after)

    async def remove_symbol_mode(
        self, ctx: RequestContext, symbol: str, expected: int | None
    ) -> ExecutionMode:
        symbol = symbol.strip()
        target = f"execution_mode:{symbol}"
        async with self._gate.guard(ctx, Op.EXECUTION_MODE_REMOVE, target) as a:
            changed = await self._change(
                ctx, Op.EXECUTION_MODE_REMOVE, [RemoveSymbol(symbol)], expected
            )
            a.before = _mode_slice(changed.before, symbol)
            a.after = _mode_slice(changed.after, symbol)
            return execution_mode(changed.after)

    # client overrides

    async def overrides(self, ctx: RequestContext) -> tuple[int, tuple[ClientOverride, ...]]:
        async with self._gate.guard(ctx, Op.CLIENT_OVERRIDES_LIST):
            setup = await self._port.setup()
            return setup.version, setup.overrides

    async def set_override(
        self, ctx: RequestContext, override: ClientOverride, expected: int | None
    ) -> tuple[int, ClientOverride]:
        target = f"account:{override.account_id}"
        async with self._gate.guard(ctx, Op.CLIENT_OVERRIDE_SET, target) as audit:
            audit.details = override_json(override)
            account_id_of(override.account_id)
            await self._port.account_exists(override.account_id)
            changed = await self._change(ctx, Op.CLIENT_OVERRIDE_SET, [override], expected)
            before = _override(changed.before, override.account_id)
            after = _override(changed.after, override.account_id)
            assert after is not None
            audit.before = override_json(before) if before is not None else None
            audit.after = {**override_json(after), "configVersion": changed.version}
            return changed.version, after

    async def delete_override(
        self, ctx: RequestContext, account_id: str, expected: int | None
    ) -> int:
        async with self._gate.guard(
            ctx, Op.CLIENT_OVERRIDE_DELETE, f"account:{account_id}"
        ) as audit:
            account_id = account_id_of(account_id)
            changed = await self._change(
                ctx, Op.CLIENT_OVERRIDE_DELETE, [RemoveOverride(account_id)], expected
            )
            before = _override(changed.before, account_id)
            audit.before = override_json(before) if before is not None else None
            audit.after = {"configVersion": changed.version}
            return changed.version

    # group rules

    async def rules(self, ctx: RequestContext) -> tuple[int, list[GroupRule]]:
        async with self._gate.guard(ctx, Op.ROUTING_RULES_LIST):
            setup = await self._port.setup()
            return setup.version, group_rules(setup)

    async def create_rule(
        self, ctx: RequestContext, rule: GroupRule, expected: int | None
    ) -> tuple[int, GroupRule]:
        async with self._gate.guard(ctx, Op.ROUTING_RULE_CREATE, "routing_rule:new") as audit:
            audit.details = rule_json(rule)
            changed = await self._change(ctx, Op.ROUTING_RULE_CREATE, [NewRule(rule)], expected)
            [rule_id] = changed.created_rule_ids
            created = _rule(changed.after, rule_id)
            assert created is not None
            audit.target = f"routing_rule:{rule_id}"
            audit.after = {**rule_json(created), "configVersion": changed.version}
            return changed.version, created

    async def update_rule(
        self, ctx: RequestContext, rule: GroupRule, expected: int | None
    ) -> tuple[int, GroupRule]:
        target = f"routing_rule:{rule.rule_id}"
        async with self._gate.guard(ctx, Op.ROUTING_RULE_UPDATE, target) as audit:
            audit.details = rule_json(rule)
            changed = await self._change(ctx, Op.ROUTING_RULE_UPDATE, [rule], expected)
            before, after = _rule(changed.before, rule.rule_id), _rule(changed.after, rule.rule_id)
            assert after is not None
            audit.before = rule_json(before) if before is not None else None
            audit.after = {**rule_json(after), "configVersion": changed.version}
            return changed.version, after

    async def delete_rule(self, ctx: RequestContext, rule_id: int, expected: int | None) -> int:
        async with self._gate.guard(ctx, Op.ROUTING_RULE_DELETE, f"routing_rule:{rule_id}") as a:
            changed = await self._change(
                ctx, Op.ROUTING_RULE_DELETE, [RemoveRule(rule_id)], expected
            )
            before = _rule(changed.before, rule_id)
            a.before = rule_json(before) if before is not None else None
            a.after = {"configVersion": changed.version}
            return changed.version

    # thresholds

    async def thresholds(self, ctx: RequestContext) -> Thresholds:
        async with self._gate.guard(ctx, Op.ROUTING_THRESHOLDS_GET):
            return thresholds(await self._port.setup())

    async def set_thresholds(
        self,
        ctx: RequestContext,
        volume_limits: list[VolumeThreshold],
        exposure_limits: list[ExposureThreshold],
        expected: int | None,
        flow_thresholds: list[FlowThresholdRow] | None = None,
        volatility_thresholds: list[VolatilityThresholdRow] | None = None,
    ) -> Thresholds:
        flows, vols = list(flow_thresholds or ()), list(volatility_thresholds or ())
        async with self._gate.guard(ctx, Op.ROUTING_THRESHOLDS_SET, "routing_thresholds") as a:
            edits: list[Edit] = [*volume_limits, *exposure_limits, *flows, *vols]
            a.details = thresholds_json(
                Thresholds(
                    0, tuple(volume_limits), tuple(exposure_limits), tuple(flows), tuple(vols)
                )
            )
            if not edits:
                raise InvalidArgument(
                    "name at least one volume, exposure, flow or volatility threshold",
                    reason="EMPTY_CHANGE",
                    metadata={"field": "volumeLimits"},
                )
            changed = await self._change(ctx, Op.ROUTING_THRESHOLDS_SET, edits, expected)
            a.before = thresholds_json(thresholds(changed.before))
            a.after = thresholds_json(thresholds(changed.after))
            return thresholds(changed.after)

    # book split

    async def book_split(
        self, ctx: RequestContext, start: datetime | None, end: datetime | None
    ) -> BookSplitReport:
        async with self._gate.guard(ctx, Op.RISK_BOOK_SPLIT):
            return await self._port.book_split(start, end)


def _mode_slice(setup: RoutingSetup, symbol: str | None) -> dict[str, Any]:
    mode = execution_mode(setup)
    if symbol is None:
        return {
            "configVersion": mode.version,
            "mode": mode.global_book,
            "hedgeRatio": fmt(mode.global_hedge_ratio),
        }
    own = next((s for s in mode.symbols if s.symbol == symbol), None)
    return {
        "configVersion": mode.version,
        "symbol": symbol_mode_json(own) if own is not None else None,
    }
