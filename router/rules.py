"""The rule engine: who takes the risk of an order, and why. Pure, no I/O, no protobuf.

``route(config, inputs)`` walks the precedence levels of ``docs/routing.md`` in a fixed order:

1. ``CLOSE`` (decided before this module: a close follows the venue holding the risk).
2. ``ACCOUNT_OVERRIDE``: one account forced to A, B or C. Final for levels 3a to 5.
3. ``RULE``: the enabled routing rule with the lowest (priority, rule_id) among those whose client
   group and symbol match (NULL matches anything); ``DEFAULT`` (B-book) when none does.
3a. ``VOLATILITY``: the symbol's realized volatility at or above its threshold row's maximum
   sets the row's book (A, B or C with its hedge ratio).
3b. ``PROFITABLE_TRADER``: an account classified profitable by its group's flow threshold row
   (net profit above the minimum, or win rate above the minimum over enough closed deals) goes to
   the A-book.
3c. ``TOXIC_FLOW``: an account whose markout toxicity score or latency-arbitrage share reaches its
   group's flow threshold row goes to the A-book. 3a to 3c act only where a threshold row exists.
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


def _s(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


DEFAULT_LOT_STEP = Decimal("0.01")
BBOOK_MAX_VOLUME_A = "BBOOK_MAX_VOLUME_A"
BBOOK_MAX_VOLUME_SPLIT = "BBOOK_MAX_VOLUME_SPLIT"
EXPOSURE_LIMIT_HEDGE = "EXPOSURE_LIMIT_HEDGE"
LP_DOWN_FALLBACK_B = "LP_DOWN_FALLBACK_B"
VOLATILITY_THRESHOLD = "VOLATILITY_THRESHOLD"
PROFITABLE_TRADER_A = "PROFITABLE_TRADER_A"
TOXIC_FLOW_A = "TOXIC_FLOW_A"


class Level(StrEnum):
    """The precedence levels, highest first (``docs/routing.md``)."""

    CLOSE = "CLOSE"
    ACCOUNT_OVERRIDE = "ACCOUNT_OVERRIDE"
    RULE = "RULE"
    DEFAULT = "DEFAULT"
    VOLATILITY = "VOLATILITY"
    PROFITABLE_TRADER = "PROFITABLE_TRADER"
    TOXIC_FLOW = "TOXIC_FLOW"
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


@dataclass(frozen=True, slots=True)
class FlowThreshold:
    """When an account's flow is profitable or toxic, for one client group or any (NULL)
    (``router.flow_thresholds``). A None bound is not checked."""

    threshold_id: int
    client_group: str | None
    min_closed_deals: int = 1
    """Closed deals needed before the win rate and the latency-arbitrage share count."""
    net_profit_min: Decimal | None = None
    """Profitable: realized net profit (account currency) above this."""
    win_rate_min: Decimal | None = None
    """Profitable: winning share of closed deals (0..1) above this, over min_closed_deals."""
    min_markout_fills: int = 1
    """Fills with markouts needed before the toxicity score counts."""
    toxicity_min_bps: Decimal | None = None
    """Toxic: toxicity score (mean markout in bps in the client's favour) at or above this."""
    latency_arb_share_min: Decimal | None = None
    """Toxic: latency-arbitrage share of closed deals (0..1) at or above this."""


@dataclass(frozen=True, slots=True)
class VolatilityThreshold:
    """What an order in a volatile symbol gets, for one symbol or any (NULL)
    (``router.volatility_thresholds``)."""

    threshold_id: int
    symbol: str | None
    max_bps: Decimal
    """Realized volatility (bps per square root of a minute) at or above which the row acts."""
    book: Book = Book.A
    c_book_hedge_ratio: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TraderStats:
    """An account's realized flow as computed by ``router.flow`` from its fills and closed deals.

    Markouts are in basis points in the client's favour (positive: the mid moved the client's way
    after the fill, the house's loss); None when no fill has one yet.
    """

    closed_deals: int = 0
    wins: int = 0
    net_profit: Decimal = ZERO
    markout_fills: int = 0
    markout_1s_bps: Decimal | None = None
    markout_10s_bps: Decimal | None = None
    markout_60s_bps: Decimal | None = None
    avg_holding_seconds: Decimal | None = None
    latency_arb_deals: int = 0
    """Closed deals held shorter than the latency-arbitrage window and closed in profit."""
    win_rate: Decimal | None = field(default=None, init=False, compare=False)
    """Winning share of the closed deals (4 places), None without closed deals."""
    latency_arb_share: Decimal | None = field(default=None, init=False, compare=False)
    """Latency-arbitrage deals / closed deals (4 places), None without closed deals."""
    toxicity: Decimal | None = field(default=None, init=False, compare=False)
    """The toxicity score: the mean of the 1 s, 10 s and 60 s markouts that are known."""
    explained: tuple[tuple[str, str], ...] = field(
        default=(), init=False, compare=False, repr=False
    )
    """The figures as Explain shows them (computed once: a router reuses one per account)."""

    def __post_init__(self) -> None:
        # Derived once here: the rule engine reads them for every order of the account.
        closed = self.closed_deals
        rate = share = None
        if closed:
            rate = (Decimal(self.wins) / closed).quantize(_RATIO)
            share = (Decimal(self.latency_arb_deals) / closed).quantize(_RATIO)
        known = [
            m
            for m in (self.markout_1s_bps, self.markout_10s_bps, self.markout_60s_bps)
            if m is not None
        ]
        toxicity = (sum(known, ZERO) / len(known)).quantize(_CENT) if known else None
        object.__setattr__(self, "win_rate", rate)
        object.__setattr__(self, "latency_arb_share", share)
        object.__setattr__(self, "toxicity", toxicity)
        object.__setattr__(
            self,
            "explained",
            (
                ("toxicity", _s(toxicity)),
                ("markout_1s_bps", _s(self.markout_1s_bps)),
                ("markout_10s_bps", _s(self.markout_10s_bps)),
                ("markout_60s_bps", _s(self.markout_60s_bps)),
                ("markout_fills", str(self.markout_fills)),
                ("avg_holding_seconds", _s(self.avg_holding_seconds)),
                ("latency_arb_share", _s(share)),
                ("closed_deals", str(closed)),
                ("wins", str(self.wins)),
                ("latency_arb_deals", str(self.latency_arb_deals)),
                ("win_rate", _s(rate)),
                ("net_profit", _s(self.net_profit)),
            ),
        )


_RATIO = Decimal("0.0001")
_CENT = Decimal("0.01")
_NO_FLOW_EXPLAINED = tuple(
    (name, "")
    for name in (
        "toxicity",
        "markout_1s_bps",
        "markout_10s_bps",
        "markout_60s_bps",
        "markout_fills",
        "avg_holding_seconds",
        "latency_arb_share",
        "closed_deals",
        "wins",
        "latency_arb_deals",
        "win_rate",
        "net_profit",
    )
)


NO_FLOW = TraderStats()


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
    flow_thresholds: Mapping[str | None, FlowThreshold] = field(default_factory=dict)
    volatility_thresholds: Mapping[str | None, VolatilityThreshold] = field(default_factory=dict)
    index: RuleIndex = field(default_factory=lambda: RuleIndex(()), compare=False)

    @staticmethod
    def build(
        version: int,
        rules: Iterable[RoutingRule] = (),
        overrides: Iterable[AccountOverride] = (),
        volume_limits: Iterable[VolumeLimit] = (),
        exposure_limits: Mapping[str, Decimal] | None = None,
        symbols: Mapping[str, SymbolRouting] | None = None,
        flow_thresholds: Iterable[FlowThreshold] = (),
        volatility_thresholds: Iterable[VolatilityThreshold] = (),
    ) -> RoutingConfig:
        ordered = tuple(sorted(rules, key=lambda r: (r.priority, r.rule_id)))
        return RoutingConfig(
            version=version,
            rules=ordered,
            overrides={o.account_id: o for o in overrides},
            volume_limits={(v.client_group, v.symbol): v for v in volume_limits},
            exposure_limits=dict(exposure_limits or {}),
            symbols=dict(symbols or {}),
            flow_thresholds={t.client_group: t for t in flow_thresholds},
            volatility_thresholds={t.symbol: t for t in volatility_thresholds},
            index=RuleIndex(ordered),
        )

    def flow_threshold(self, client_group: str) -> FlowThreshold | None:
        """The group's flow threshold row, else the one for any group, else None."""
        found = self.flow_thresholds.get(client_group)
        return found if found is not None else self.flow_thresholds.get(None)

    def volatility_threshold(self, symbol: str) -> VolatilityThreshold | None:
        """The symbol's volatility threshold row, else the one for any symbol, else None."""
        found = self.volatility_thresholds.get(symbol)
        return found if found is not None else self.volatility_thresholds.get(None)

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
    """fixgw's LP sessions as last polled: ``known`` False when no poll is fresh enough.

    Every LP fixgw reports is in exactly one of the three lists: ``healthy`` (its session takes
    orders and fixgw's health block does not flag it), ``degraded`` (its session takes orders but
    fixgw flags it DEGRADED, with the reason: ``REJECT_RATIO`` or ``FILL_LATENCY``) and
    ``unhealthy`` (its session takes no order: logged out, disabled or holding an order for
    reconciliation). Only ``healthy`` LPs count for level 6: a degraded LP is one fixgw tries
    last, not one the router counts on.
    """

    known: bool
    healthy: tuple[str, ...] = ()
    unhealthy: tuple[str, ...] = ()
    age_ms: int | None = None
    degraded: tuple[tuple[str, str], ...] = ()
    """(LP, why) of the LPs fixgw reported DEGRADED, sorted by LP."""

    @property
    def any_healthy(self) -> bool:
        return bool(self.healthy)

    @property
    def degraded_text(self) -> str:
        """``LPA:REJECT_RATIO,LPB:FILL_LATENCY`` (Explain's ``lps_degraded``)."""
        return ",".join(f"{name}:{why}" for name, why in self.degraded)


UNKNOWN_HEALTH = LpHealth(known=False)


@dataclass(frozen=True, slots=True)
class RoutingInputs:
    """Everything one decision may look at, computed by the system for this order.

    ``trader``: the account's realized flow (``router.flow``: closed deals, markouts, holding
    times), None when the flow feed is off. ``volatility``: the symbol's realized volatility in
    bps per square root of a minute, None when not enough quotes were sampled (or the feed is off).
    The profitable and toxic classifications are derived from ``trader`` and the configuration's
    thresholds by ``route``; every component is shown by Explain.
    """

    account_id: str
    client_group: str
    symbol: str
    side: Side
    volume: Decimal
    house_net_lots: Decimal = ZERO
    lp_health: LpHealth = UNKNOWN_HEALTH
    trader: TraderStats | None = None
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
        steps.append(Step(Level.ACCOUNT_OVERRIDE, f"{book.value} {reason}", "final for 3a to 5"))
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
    profitable: bool | None = None
    toxic: bool | None = None
    if override is None:
        book, ratio, reason, level, profitable, toxic = _flow_levels(
            config, inputs, steps, (book, ratio, reason, level)
        )
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
        why = "no healthy LP"
        if health.degraded:
            why += f" (degraded {health.degraded_text.replace(',', ' ')})"
        if settings.lp_fallback is LpFallback.B:
            level = Level.LP_HEALTH
            a, b, reason = ZERO, volume, LP_DOWN_FALLBACK_B
            steps.append(Step(level, settings.lp_fallback.value, why))
        else:
            # The poll may be up to a second old: an LP back since then must not turn a client
            # away. fixgw, which knows its sessions now, answers NO_LIQUIDITY if none can take it
            # (and still sends to a degraded LP, last, when it is all there is).
            steps.append(Step(Level.LP_HEALTH, "to fixgw", why + " at the last poll"))
    else:
        steps.append(
            Step(
                Level.LP_HEALTH,
                "pass" if health.known or a == 0 else "unknown",
                f"healthy {','.join(health.healthy) or 'none'}"
                + (f" degraded {health.degraded_text}" if health.degraded else ""),
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
        explanation=Explanation(_inputs(inputs, config, profitable, toxic), tuple(steps)),
    )


_Outcome = tuple[Book, Decimal, str, Level]


def _flow_levels(
    config: RoutingConfig, inputs: RoutingInputs, steps: list[Step], outcome: _Outcome
) -> tuple[Book, Decimal, str, Level, bool | None, bool | None]:
    """Levels 3a to 3c: volatility, profitable trader, toxic flow (each only with a threshold
    row). Returns the outcome after them and the two classifications (None: not classified)."""
    book, ratio, reason, level = outcome
    vol = config.volatility_threshold(inputs.symbol) if config.volatility_thresholds else None
    if vol is None:
        pass  # no threshold row: the level is not evaluated (no step)
    elif inputs.volatility is None:
        steps.append(Step(Level.VOLATILITY, "unknown", f"max {_s(vol.max_bps)}"))
    elif inputs.volatility >= vol.max_bps:
        book, ratio, reason, level = (
            vol.book,
            vol.c_book_hedge_ratio,
            VOLATILITY_THRESHOLD,
            (Level.VOLATILITY),
        )
        steps.append(
            Step(
                level,
                f"{book.value} {reason}",
                f"{_s(inputs.volatility)} >= max {_s(vol.max_bps)} (threshold {vol.threshold_id})",
            )
        )
    else:
        steps.append(
            Step(Level.VOLATILITY, "pass", f"{_s(inputs.volatility)} < max {_s(vol.max_bps)}")
        )

    flow = config.flow_threshold(inputs.client_group) if config.flow_thresholds else None
    trader = inputs.trader
    profitable: bool | None = None
    toxic: bool | None = None
    if flow is None:  # no threshold row: the levels are not evaluated (no step)
        return book, ratio, reason, level, profitable, toxic
    if trader is None:
        steps.append(Step(Level.PROFITABLE_TRADER, "unknown", "no flow figures"))
        steps.append(Step(Level.TOXIC_FLOW, "unknown", "no flow figures"))
        return book, ratio, reason, level, profitable, toxic

    profitable, why = _profitable(flow, trader)
    if profitable:
        book, ratio, reason, level = Book.A, ZERO, PROFITABLE_TRADER_A, Level.PROFITABLE_TRADER
        steps.append(Step(level, f"A {reason}", f"{why} (threshold {flow.threshold_id})"))
    else:
        steps.append(Step(Level.PROFITABLE_TRADER, "pass", why))

    toxic, why = _toxic(flow, trader)
    if toxic:
        book, ratio, reason, level = Book.A, ZERO, TOXIC_FLOW_A, Level.TOXIC_FLOW
        steps.append(Step(level, f"A {reason}", f"{why} (threshold {flow.threshold_id})"))
    else:
        steps.append(Step(Level.TOXIC_FLOW, "pass", why))
    return book, ratio, reason, level, profitable, toxic


def _profitable(t: FlowThreshold, s: TraderStats) -> tuple[bool, str]:
    """Net profit above the minimum, or win rate above the minimum over enough closed deals."""
    if t.net_profit_min is not None and s.net_profit > t.net_profit_min:
        return True, f"net profit {_s(s.net_profit)} > {_s(t.net_profit_min)}"
    rate = s.win_rate
    if (
        t.win_rate_min is not None
        and rate is not None
        and s.closed_deals >= t.min_closed_deals
        and rate > t.win_rate_min
    ):
        return True, f"win rate {_s(rate)} > {_s(t.win_rate_min)} over {s.closed_deals} deals"
    return False, (
        f"net profit {_s(s.net_profit)} win rate {_s(rate) or 'none'} over {s.closed_deals} deals"
    )


def _toxic(t: FlowThreshold, s: TraderStats) -> tuple[bool, str]:
    """Toxicity score at or above its minimum (over enough fills with markouts), or
    latency-arbitrage share at or above its minimum (over enough closed deals)."""
    score = s.toxicity
    if (
        t.toxicity_min_bps is not None
        and score is not None
        and s.markout_fills >= t.min_markout_fills
        and score >= t.toxicity_min_bps
    ):
        return (
            True,
            f"toxicity {_s(score)} bps >= {_s(t.toxicity_min_bps)} over {s.markout_fills} fills",
        )
    share = s.latency_arb_share
    if (
        t.latency_arb_share_min is not None
        and share is not None
        and s.closed_deals >= t.min_closed_deals
        and share >= t.latency_arb_share_min
    ):
        return True, f"latency arbitrage {_s(share)} >= {_s(t.latency_arb_share_min)}"
    return False, f"toxicity {_s(score) or 'none'} bps latency arbitrage {_s(share) or 'none'}"


def _inputs(
    inputs: RoutingInputs,
    config: RoutingConfig,
    profitable: bool | None = None,
    toxic: bool | None = None,
) -> tuple[tuple[str, str], ...]:
    health = inputs.lp_health
    trader = inputs.trader
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
        ("lps_degraded", health.degraded_text),
        ("lp_health_age_ms", "" if health.age_ms is None else str(health.age_ms)),
        ("profitable", "" if profitable is None else str(profitable).lower()),
        ("toxic", "" if toxic is None else str(toxic).lower()),
        *(trader.explained if trader is not None else _NO_FLOW_EXPLAINED),
        ("volatility", _s(inputs.volatility)),
    )
