"""The rule engine: who takes the risk of an order, and why. Pure, no I/O, no protobuf.

``route(config, inputs)`` walks the precedence levels of ``docs/routing.md`` in a fixed order:

1. ``CLOSE`` (decided before this module: a close follows the venue holding the risk).
2. ``ACCOUNT_OVERRIDE``: one account forced to A, B or C. Final for levels 4 and 5.
3. ``RULE``: the enabled routing rule with the lowest (priority, rule_id) among those whose client
   group and symbol match (NULL matches anything); ``DEFAULT`` (B-book) when none does.
4. ``BBOOK_MAX_VOLUME``: the B part above the most specific B-book maximum goes to the A-book
   (``over_limit`` A: the whole order; SPLIT: the excess, rounded up to the lot step).
5. ``EXPOSURE_LIMIT``: the B part that would take the house net beyond the symbol's limit is
   hedged (moved to the A leg, rounded up to the lot step); reducing the net is always taken.
6. ``LP_HEALTH``: an order with an A part while fixgw reported no healthy LP at its last poll
   gets the symbol's fallback: B, the house takes it all; REJECT, it still goes to fixgw, whose
   own answer is NO_LIQUIDITY when no LP can take it (the poll may be a second old, and an LP back
   since then must not turn a client away). Unknown health (no fresh poll) changes nothing.

The outcome is a function of ``(config, inputs)`` only: the same order with the same inputs gets
the same decision, whatever the order the rules were loaded in. Rule matching is four dictionary
probes whatever the number of rules (``RuleIndex``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum

from bbook import Side
from router.domain import DEFAULT_REASON, Book, Decision, RoutingRule

ZERO = Decimal(0)
DEFAULT_LOT_STEP = Decimal("0.01")
BBOOK_MAX_VOLUME_A = "BBOOK_MAX_VOLUME_A"
BBOOK_MAX_VOLUME_SPLIT = "BBOOK_MAX_VOLUME_SPLIT"
EXPOSURE_LIMIT_HEDGE = "EXPOSURE_LIMIT_HEDGE"
LP_DOWN_FALLBACK_B = "LP_DOWN_FALLBACK_B"


class Level(StrEnum):
    """The precedence levels, highest first (``docs/routing.md``)."""

    CLOSE = "CLOSE"
    ACCOUNT_OVERRIDE = "ACCOUNT_OVERRIDE"
    RULE = "RULE"
    DEFAULT = "DEFAULT"
    BBOOK_MAX_VOLUME = "BBOOK_MAX_VOLUME"
    EXPOSURE_LIMIT = "EXPOSURE_LIMIT"
    LP_HEALTH = "LP_HEALTH"


class OverLimit(StrEnum):
    """What an order above the B-book maximum does: all to the A-book, or split (C-book)."""

    A = "A"
    SPLIT = "SPLIT"


class LpFallback(StrEnum):
    """What an order meant for an LP gets when no LP is healthy."""

    B = "B"
    REJECT = "REJECT"


@dataclass(frozen=True, slots=True)
class AccountOverride:
    """One account forced to ``book`` (``router.account_overrides``)."""

    account_id: str
    book: Book
    reason: str
    c_book_hedge_ratio: Decimal = ZERO
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class VolumeLimit:
    """The most the B-book takes of one order in a scope (``router.bbook_volume_limits``)."""

    limit_id: int
    client_group: str | None
    symbol: str | None
    max_lots: Decimal
    over_limit: OverLimit = OverLimit.SPLIT


@dataclass(frozen=True, slots=True)
class SymbolRouting:
    """Routing settings of one symbol (``router.routing_symbol_settings``)."""

    lot_step: Decimal = DEFAULT_LOT_STEP
    lp_fallback: LpFallback = LpFallback.REJECT
    preferred_lps: tuple[str, ...] = ()
    """LPs an A leg of the symbol tries first, in order, before fixgw's configured list."""


DEFAULT_SYMBOL_ROUTING = SymbolRouting()


class RuleIndex:
    """Enabled rules indexed by (client_group, symbol) scope: the best rule of each of the four
    scopes an order can match, so a match costs four probes whatever the number of rules."""

    __slots__ = ("_best", "probes", "size")

    def __init__(self, rules: Iterable[RoutingRule]) -> None:
        best: dict[tuple[str | None, str | None], RoutingRule] = {}
        size = 0
        for rule in rules:
            if not rule.enabled:
                continue
            size += 1
            key = (rule.client_group, rule.symbol)
            current = best.get(key)
            if current is None or (rule.priority, rule.rule_id) < (
                current.priority,
                current.rule_id,
            ):
                best[key] = rule
        self._best = best
        self.size = size
        self.probes = 0
        """Dictionary probes made so far (the cost model the unit tests hold constant)."""

    def match(self, client_group: str, symbol: str) -> RoutingRule | None:
        """The enabled matching rule with the lowest (priority, rule_id), or None."""
        found: RoutingRule | None = None
        for key in ((client_group, symbol), (client_group, None), (None, symbol), (None, None)):
            self.probes += 1
            rule = self._best.get(key)
            if rule is not None and (
                found is None or (rule.priority, rule.rule_id) < (found.priority, found.rule_id)
            ):
                found = rule
        return found


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Everything the rule engine is configured with, as of one configuration ``version``."""

    version: int = 0
    rules: tuple[RoutingRule, ...] = ()
    overrides: Mapping[str, AccountOverride] = field(default_factory=dict)
    volume_limits: Mapping[tuple[str | None, str | None], VolumeLimit] = field(default_factory=dict)
    exposure_limits: Mapping[str, Decimal] = field(default_factory=dict)
    symbols: Mapping[str, SymbolRouting] = field(default_factory=dict)
    index: RuleIndex = field(default_factory=lambda: RuleIndex(()), compare=False)

    @staticmethod
    def build(
        version: int,
        rules: Iterable[RoutingRule] = (),
        overrides: Iterable[AccountOverride] = (),
        volume_limits: Iterable[VolumeLimit] = (),
        exposure_limits: Mapping[str, Decimal] | None = None,
        symbols: Mapping[str, SymbolRouting] | None = None,
    ) -> RoutingConfig:
        ordered = tuple(sorted(rules, key=lambda r: (r.priority, r.rule_id)))
        return RoutingConfig(
            version=version,
            rules=ordered,
            overrides={o.account_id: o for o in overrides},
            volume_limits={(v.client_group, v.symbol): v for v in volume_limits},
            exposure_limits=dict(exposure_limits or {}),
            symbols=dict(symbols or {}),
            index=RuleIndex(ordered),
        )

    def volume_limit(self, client_group: str, symbol: str) -> VolumeLimit | None:
        """The most specific B-book maximum: group+symbol, symbol, group, then neither."""
        limits = self.volume_limits
        if not limits:
            return None
        for key in ((client_group, symbol), (None, symbol), (client_group, None), (None, None)):
            found = limits.get(key)
            if found is not None:
                return found
        return None

    def symbol(self, symbol: str) -> SymbolRouting:
        return self.symbols.get(symbol, DEFAULT_SYMBOL_ROUTING)


@dataclass(frozen=True, slots=True)
class LpHealth:
    """fixgw's LP sessions as last polled: ``known`` False when no poll is fresh enough."""

    known: bool
    healthy: tuple[str, ...] = ()
    unhealthy: tuple[str, ...] = ()
    age_ms: int | None = None

    @property
    def any_healthy(self) -> bool:
        return bool(self.healthy)


UNKNOWN_HEALTH = LpHealth(known=False)


@dataclass(frozen=True, slots=True)
class RoutingInputs:
    """Everything one decision may look at, computed by the system for this order.

    ``profitable``, ``toxicity`` and ``volatility`` are the slots of later inputs (the account's
    realized-history classification, its markout toxicity score, the symbol's realized
    volatility): None means not computed; rules do not read them yet, Explain shows them.
    """

    account_id: str
    client_group: str
    symbol: str
    side: Side
    volume: Decimal
    house_net_lots: Decimal = ZERO
    lp_health: LpHealth = UNKNOWN_HEALTH
    profitable: bool | None = None
    toxicity: Decimal | None = None
    volatility: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One precedence level as evaluated: what it saw and what it did."""

    level: Level
    outcome: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    """The why of a decision: the inputs it saw and every level it went through."""

    inputs: tuple[tuple[str, str], ...]
    steps: tuple[Step, ...]


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _round_step(volume: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``volume`` as a multiple of ``step`` (``rounding`` a decimal rounding mode)."""
    return (volume / step).quantize(Decimal(1), rounding=rounding) * step


def _split(book: Book, ratio: Decimal, volume: Decimal, step: Decimal) -> tuple[Decimal, Decimal]:
    """The (A, B) volumes of a base decision: the A leg rounded half-up to the lot step."""
    if book is Book.A:
        return volume, ZERO
    if book is Book.B:
        return ZERO, volume
    a = min(_round_step(ratio * volume, step, ROUND_HALF_UP), volume)
    return a, volume - a


def _move_to_a(a: Decimal, b: Decimal, excess: Decimal, step: Decimal) -> tuple[Decimal, Decimal]:
    """Move at least ``excess`` of B to A, in whole lot steps (never more than B)."""
    moved = min(_round_step(excess, step, ROUND_CEILING), b)
    return a + moved, b - moved


def route(config: RoutingConfig, inputs: RoutingInputs) -> Decision:
    """The decision for ``inputs`` under ``config`` (see the module docstring for the levels)."""
    volume = inputs.volume
    settings = config.symbol(inputs.symbol)
    step = settings.lot_step
    steps: list[Step] = []

    override = config.overrides.get(inputs.account_id)
    rule_id: int | None = None
    if override is not None:
        book, ratio, reason, level = (
            override.book,
            override.c_book_hedge_ratio,
            override.reason,
            Level.ACCOUNT_OVERRIDE,
        )
        steps.append(Step(Level.ACCOUNT_OVERRIDE, f"{book.value} {reason}", "final for 4 and 5"))
    else:
        steps.append(Step(Level.ACCOUNT_OVERRIDE, "none"))
        rule = config.index.match(inputs.client_group, inputs.symbol)
        if rule is not None:
            book, ratio, reason, level = rule.book, rule.c_book_hedge_ratio, rule.reason, Level.RULE
            rule_id = rule.rule_id
            scope = f"group={rule.client_group or '*'} symbol={rule.symbol or '*'}"
            steps.append(
                Step(
                    Level.RULE,
                    f"{book.value} {reason}",
                    f"rule {rule.rule_id} priority {rule.priority} {scope}",
                )
            )
        else:
            book, ratio, reason, level = Book.B, ZERO, DEFAULT_REASON, Level.DEFAULT
            steps.append(Step(Level.RULE, "none", f"{config.index.size} enabled rules"))
    a, b = _split(book, ratio, volume, step)
    if book is Book.C:
        steps.append(
            Step(level, f"split A {_s(a)} B {_s(b)}", f"ratio {_s(ratio)} step {_s(step)}")
        )

    if override is None:
        limit = config.volume_limit(inputs.client_group, inputs.symbol)
        if limit is not None and b > limit.max_lots:
            if limit.over_limit is OverLimit.A:
                a, b = volume, ZERO
                reason = BBOOK_MAX_VOLUME_A
            else:
                a, b = _move_to_a(a, b, b - limit.max_lots, step)
                reason = BBOOK_MAX_VOLUME_SPLIT
            level = Level.BBOOK_MAX_VOLUME
            steps.append(
                Step(
                    level,
                    f"A {_s(a)} B {_s(b)}",
                    f"max {_s(limit.max_lots)} ({limit.over_limit.value}, limit {limit.limit_id})",
                )
            )
        else:
            steps.append(
                Step(
                    Level.BBOOK_MAX_VOLUME, "pass", f"max {_s(limit.max_lots) if limit else 'none'}"
                )
            )

        max_net = config.exposure_limits.get(inputs.symbol)
        if max_net is not None and b > 0:
            # The house takes the other side: a client BUY makes it shorter.
            net = inputs.house_net_lots
            allowed = max(ZERO, max_net + net if inputs.side is Side.BUY else max_net - net)
            if b > allowed:
                a, b = _move_to_a(a, b, b - allowed, step)
                reason, level = EXPOSURE_LIMIT_HEDGE, Level.EXPOSURE_LIMIT
                steps.append(
                    Step(level, f"A {_s(a)} B {_s(b)}", f"net {_s(net)} limit {_s(max_net)}")
                )
            else:
                steps.append(
                    Step(Level.EXPOSURE_LIMIT, "pass", f"net {_s(net)} limit {_s(max_net)}")
                )
        else:
            steps.append(Step(Level.EXPOSURE_LIMIT, "pass", f"limit {_s(max_net) or 'none'}"))

    reject_reason = ""
    health = inputs.lp_health
    if a > 0 and health.known and not health.any_healthy:
        if settings.lp_fallback is LpFallback.B:
            level = Level.LP_HEALTH
            a, b, reason = ZERO, volume, LP_DOWN_FALLBACK_B
            steps.append(Step(level, settings.lp_fallback.value, "no healthy LP"))
        else:
            # The poll may be up to a second old: an LP back since then must not turn a client
            # away. fixgw, which knows its sessions now, answers NO_LIQUIDITY if none can take it.
            steps.append(Step(Level.LP_HEALTH, "to fixgw", "no healthy LP at the last poll"))
    else:
        steps.append(
            Step(
                Level.LP_HEALTH,
                "pass" if health.known or a == 0 else "unknown",
                f"healthy {','.join(health.healthy) or 'none'}",
            )
        )

    final = Book.C if a > 0 and b > 0 else (Book.A if a > 0 else Book.B)
    return Decision(
        book=final,
        reason=reason,
        rule_id=rule_id,
        c_book_hedge_ratio=ratio if final is Book.C else ZERO,
        a_volume=a,
        b_volume=b,
        level=level.value,
        config_version=config.version,
        reject_reason=reject_reason,
        explanation=Explanation(_inputs(inputs, config), tuple(steps)),
    )


def _inputs(inputs: RoutingInputs, config: RoutingConfig) -> tuple[tuple[str, str], ...]:
    health = inputs.lp_health
    return (
        ("account_id", inputs.account_id),
        ("client_group", inputs.client_group),
        ("symbol", inputs.symbol),
        ("side", inputs.side.value),
        ("volume", _s(inputs.volume)),
        ("house_net_lots", _s(inputs.house_net_lots)),
        ("exposure_limit_lots", _s(config.exposure_limits.get(inputs.symbol))),
        ("lp_health", "known" if health.known else "unknown"),
        ("lps_healthy", ",".join(health.healthy)),
        ("lps_unhealthy", ",".join(health.unhealthy)),
        ("lp_health_age_ms", "" if health.age_ms is None else str(health.age_ms)),
        ("profitable", "" if inputs.profitable is None else str(inputs.profitable).lower()),
        ("toxicity", _s(inputs.toxicity)),
        ("volatility", _s(inputs.volatility)),
    )
