"""Routing configuration as admins read and change it (``GetRoutingConfig`` /
``ChangeRoutingConfig``): the execution mode (global and per symbol), account overrides, group
rules, the B-book volume / exposure thresholds and the flow (levels 3b, 3c) and volatility
(level 3a) threshold rows. No protobuf here (``router.config_convert``).

A change is a list of edits applied in ONE transaction that first takes
``LOCK TABLE router.config_versions IN EXCLUSIVE MODE`` (changes queue behind each other, readers
never wait), checks the optional expected version, inserts the one new version row of the
transaction (the table triggers find it and add no other) and applies the edits. So two
concurrent changes never share a version, a stale ``expected_version`` is ABORTED
``CONFIG_VERSION_CHANGED`` with nothing written, an edit that fails (an unknown rule or override)
leaves nothing half-written, and routers apply the change to the very next order (an order that
finds a newer committed version reloads before it is decided; ``docs/routing.md``).

Execution mode rows are routing rules with reserved reasons: the global mode is the one rule of
reason ``EXECUTION_MODE_GLOBAL`` (any group, any symbol, priority ``GLOBAL_PRIORITY``: tried
last; the B-book needs no rule, so setting B removes it); a per-symbol mode is the rule of reason
``EXECUTION_MODE_SYMBOL`` for that symbol (priority ``SYMBOL_PRIORITY``), and the symbol's
``maxVolume`` (the symbol-wide B-book maximum), ``fallbackMode`` (no healthy LP) and priority LPs
live in ``bbook_volume_limits`` and ``routing_symbol_settings``. Group rules are every other rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import grpc

from fxmesh.db import Conn
from fxmesh.errors import FxError, InvalidArgument, NotFound
from fxmesh.reasons import Reason
from router import repository
from router.domain import Book, RoutingRule
from router.rules import (
    DEFAULT_LOT_STEP,
    AccountOverride,
    FlowThreshold,
    LpFallback,
    OverLimit,
    SymbolRouting,
    VolatilityThreshold,
    VolumeLimit,
)

EXECUTION_MODE_GLOBAL = "EXECUTION_MODE_GLOBAL"
EXECUTION_MODE_SYMBOL = "EXECUTION_MODE_SYMBOL"
RESERVED_REASONS = frozenset({EXECUTION_MODE_GLOBAL, EXECUTION_MODE_SYMBOL})
GLOBAL_PRIORITY = 1_000_000
"""The global mode is tried after every other rule."""
SYMBOL_PRIORITY = 500_000
"""A per-symbol mode is tried after group rules of a lower priority (the default 100)."""
MAX_RULE_PRIORITY = 999_999
MAX_PREFERRED_LPS = 8

CONFIG_VERSION_CHANGED = "CONFIG_VERSION_CHANGED"
RULE_NOT_FOUND = "RULE_NOT_FOUND"
OVERRIDE_NOT_FOUND = "OVERRIDE_NOT_FOUND"
SYMBOL_RULE_NOT_FOUND = "SYMBOL_RULE_NOT_FOUND"
INVALID_HEDGE_RATIO = "INVALID_HEDGE_RATIO"
INVALID_PRIORITY = "INVALID_PRIORITY"
INVALID_REASON = "INVALID_REASON"
INVALID_CLIENT_GROUP = Reason.INVALID_CLIENT_GROUP
INVALID_LP_ID = "INVALID_LP_ID"
EMPTY_CHANGE = "EMPTY_CHANGE"
THRESHOLD_NOT_FOUND = Reason.THRESHOLD_NOT_FOUND
INVALID_THRESHOLD = Reason.INVALID_THRESHOLD

_REASON = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9._#-]{1,32}$")
_ZERO = Decimal(0)
_ONE = Decimal(1)


# --- the configuration as read ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """Every admin-editable routing table as of one ``version`` (disabled rows included)."""

    version: int
    rules: tuple[RoutingRule, ...] = ()
    overrides: tuple[AccountOverride, ...] = ()
    volume_limits: tuple[VolumeLimit, ...] = ()
    exposure_limits: tuple[tuple[str, Decimal], ...] = ()
    symbols: tuple[tuple[str, SymbolRouting], ...] = ()
    flow_thresholds: tuple[FlowThreshold, ...] = ()
    volatility_thresholds: tuple[VolatilityThreshold, ...] = ()


async def snapshot(conn: Conn) -> ConfigSnapshot:
    """The configuration as the caller's transaction sees it (call inside one)."""
    version: int = await conn.fetchval("SELECT max(version) FROM router.config_versions")
    rules = await conn.fetch(
        "SELECT rule_id, priority, client_group, symbol, book, c_book_hedge_ratio, reason, "
        "enabled FROM router.routing_rules ORDER BY priority, rule_id"
    )
    overrides = await conn.fetch(
        "SELECT account_id, book, c_book_hedge_ratio, reason, enabled "
        "FROM router.account_overrides ORDER BY account_id"
    )
    limits = await conn.fetch(
        "SELECT limit_id, client_group, symbol, max_lots, over_limit "
        "FROM router.bbook_volume_limits ORDER BY limit_id"
    )
    exposure = await conn.fetch(
        "SELECT symbol, max_net_lots FROM router.exposure_limits ORDER BY symbol"
    )
    symbols = await conn.fetch(
        "SELECT symbol, lot_step, lp_fallback, preferred_lps "
        "FROM router.routing_symbol_settings ORDER BY symbol"
    )
    flow = await conn.fetch(
        "SELECT threshold_id, client_group, min_closed_deals, net_profit_min, win_rate_min, "
        "min_markout_fills, toxicity_min_bps, latency_arb_share_min FROM router.flow_thresholds "
        "ORDER BY client_group NULLS FIRST"
    )
    volatility = await conn.fetch(
        "SELECT threshold_id, symbol, max_bps, book, c_book_hedge_ratio "
        "FROM router.volatility_thresholds ORDER BY symbol NULLS FIRST"
    )
    return ConfigSnapshot(
        version=version,
        flow_thresholds=tuple(repository.flow_threshold_of(r) for r in flow),
        volatility_thresholds=tuple(repository.volatility_threshold_of(r) for r in volatility),
        rules=tuple(repository.routing_rule_of(r) for r in rules),
        overrides=tuple(repository.override_of(r) for r in overrides),
        volume_limits=tuple(repository.volume_limit_of(r) for r in limits),
        exposure_limits=tuple((r["symbol"], r["max_net_lots"]) for r in exposure),
        symbols=tuple((r["symbol"], repository.symbol_routing_of(r)) for r in symbols),
    )


async def read(conn: Conn) -> ConfigSnapshot:
    """The configuration and its version, in one REPEATABLE READ snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await snapshot(conn)


# --- the edits -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetExecutionMode:
    """The global mode (``symbol`` None: only ``book`` and ``hedge_ratio`` count) or one
    symbol's rule with its B-book maximum, fallback and priority LPs."""

    symbol: str | None
    book: Book
    hedge_ratio: Decimal = _ZERO
    max_volume: Decimal | None = None
    over_limit: OverLimit = OverLimit.SPLIT
    fallback: LpFallback | None = None
    """None: keep the symbol's fallback as it is (REJECT for a symbol without settings)."""
    preferred_lps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoveSymbolMode:
    """Remove a symbol's rule, its B-book maximum and priority LPs (fallback back to REJECT)."""

    symbol: str


@dataclass(frozen=True, slots=True)
class PutOverride:
    override: AccountOverride


@dataclass(frozen=True, slots=True)
class DeleteOverride:
    account_id: str


@dataclass(frozen=True, slots=True)
class CreateRule:
    """A group rule (``rule.rule_id`` is ignored: the new id is answered)."""

    rule: RoutingRule


@dataclass(frozen=True, slots=True)
class UpdateRule:
    rule: RoutingRule


@dataclass(frozen=True, slots=True)
class DeleteRule:
    rule_id: int


@dataclass(frozen=True, slots=True)
class SetVolumeLimit:
    """The B-book maximum of one scope (None / None: global); ``max_lots`` None removes it."""

    client_group: str | None
    symbol: str | None
    max_lots: Decimal | None
    over_limit: OverLimit = OverLimit.SPLIT


@dataclass(frozen=True, slots=True)
class SetExposureLimit:
    """The house's maximum absolute net in a symbol; ``max_net_lots`` None removes it."""

    symbol: str
    max_net_lots: Decimal | None


@dataclass(frozen=True, slots=True)
class SetFlowThreshold:
    """The flow threshold row of ``threshold.client_group`` (None: any group), created or
    replaced whole (``threshold_id`` is ignored)."""

    threshold: FlowThreshold


@dataclass(frozen=True, slots=True)
class RemoveFlowThreshold:
    client_group: str | None


@dataclass(frozen=True, slots=True)
class SetVolatilityThreshold:
    """The volatility threshold row of ``threshold.symbol`` (None: any symbol), created or
    replaced whole (``threshold_id`` is ignored)."""

    threshold: VolatilityThreshold


@dataclass(frozen=True, slots=True)
class RemoveVolatilityThreshold:
    symbol: str | None


Edit = (
    SetExecutionMode
    | RemoveSymbolMode
    | PutOverride
    | DeleteOverride
    | CreateRule
    | UpdateRule
    | DeleteRule
    | SetVolumeLimit
    | SetExposureLimit
    | SetFlowThreshold
    | RemoveFlowThreshold
    | SetVolatilityThreshold
    | RemoveVolatilityThreshold
)


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    edits: tuple[Edit, ...]
    expected_version: int | None = None
    actor: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ChangeResult:
    version: int
    before: ConfigSnapshot
    after: ConfigSnapshot
    created_rule_ids: tuple[int, ...] = field(default=())


# --- validation (pure) -----------------------------------------------------------------------


def _invalid(message: str, reason: str, field_name: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field_name})


def _symbol(value: str | None, field_name: str = "symbol") -> str:
    if value is None or not _SYMBOL.match(value):
        raise _invalid(
            f"{field_name} must be 1..32 letters, digits or ._#-", Reason.INVALID_SYMBOL, field_name
        )
    return value


def _ratio(book: Book, ratio: Decimal, field_name: str = "hedge_ratio") -> None:
    if book is Book.C:
        if not (_ZERO < ratio < _ONE):
            raise _invalid(
                "a C-book hedge ratio is between 0 and 1 (exclusive)",
                INVALID_HEDGE_RATIO,
                field_name,
            )
    elif ratio != 0:
        raise _invalid("only a C-book mode has a hedge ratio", INVALID_HEDGE_RATIO, field_name)


def _reason(reason: str) -> None:
    if not _REASON.match(reason):
        raise _invalid(
            "reason must be UPPER_SNAKE, at most 64 characters", INVALID_REASON, "reason"
        )
    if reason in RESERVED_REASONS:
        raise _invalid(
            f"reason {reason} is reserved for the execution mode", INVALID_REASON, "reason"
        )


def _lots(value: Decimal, field_name: str) -> None:
    if not value.is_finite() or value < 0:
        raise _invalid(
            f"{field_name} must be a non-negative decimal", Reason.INVALID_DECIMAL, field_name
        )


def _group_rule(rule: RoutingRule) -> None:
    if not rule.client_group or len(rule.client_group) > 64:
        raise _invalid(
            "clientGroup is required (1..64 characters)", INVALID_CLIENT_GROUP, "client_group"
        )
    if rule.symbol is not None:
        _symbol(rule.symbol)
    if not 0 <= rule.priority <= MAX_RULE_PRIORITY:
        raise _invalid(f"priority must be 0..{MAX_RULE_PRIORITY}", INVALID_PRIORITY, "priority")
    _ratio(rule.book, rule.c_book_hedge_ratio)
    _reason(rule.reason)


def _group(value: str | None) -> None:
    if value is not None and not 0 < len(value) <= 64:
        raise _invalid("clientGroup is 1..64 characters", INVALID_CLIENT_GROUP, "client_group")


def _bound(value: Decimal | None, field_name: str, *, share: bool = False) -> None:
    """A threshold bound: finite (a share: 0..1); None is not checked."""
    if value is None:
        return
    if not value.is_finite() or abs(value) >= _MAX_BOUND or (share and not _ZERO <= value <= _ONE):
        what = "a decimal between 0 and 1" if share else f"a decimal below {_MAX_BOUND} in size"
        raise _invalid(f"{field_name} must be {what}", INVALID_THRESHOLD, field_name)


_MAX_COUNT = 2**31 - 1
_MAX_BOUND = Decimal(10) ** 15
"""Threshold bounds are below this in size (a larger one is a typo, and would overflow)."""


def _count(value: int, field_name: str) -> None:
    if not 0 <= value <= _MAX_COUNT:
        raise _invalid(f"{field_name} must be 0..{_MAX_COUNT}", INVALID_THRESHOLD, field_name)


def _validate_thresholds(edit: Edit) -> None:
    if isinstance(edit, SetFlowThreshold):
        t = edit.threshold
        _group(t.client_group)
        _count(t.min_closed_deals, "min_closed_deals")
        _count(t.min_markout_fills, "min_markout_fills")
        _bound(t.net_profit_min, "net_profit_min")
        _bound(t.win_rate_min, "win_rate_min", share=True)
        _bound(t.toxicity_min_bps, "toxicity_min_bps")
        _bound(t.latency_arb_share_min, "latency_arb_share_min", share=True)
    elif isinstance(edit, RemoveFlowThreshold):
        _group(edit.client_group)
    elif isinstance(edit, SetVolatilityThreshold):
        v = edit.threshold
        if v.symbol is not None:
            _symbol(v.symbol)
        if not v.max_bps.is_finite() or not _ZERO <= v.max_bps < _MAX_BOUND:
            raise _invalid("max_bps must be a non-negative decimal", INVALID_THRESHOLD, "max_bps")
        _ratio(v.book, v.c_book_hedge_ratio)
    elif isinstance(edit, RemoveVolatilityThreshold) and edit.symbol is not None:
        _symbol(edit.symbol)


def validate(edit: Edit) -> None:
    """Raise InvalidArgument (naming the field) for an edit that cannot be applied."""
    if isinstance(edit, SetExecutionMode):
        if edit.symbol is not None:
            _symbol(edit.symbol)
        _ratio(edit.book, edit.hedge_ratio)
        if edit.max_volume is not None:
            _lots(edit.max_volume, "max_volume")
        if len(edit.preferred_lps) > MAX_PREFERRED_LPS or len(set(edit.preferred_lps)) != len(
            edit.preferred_lps
        ):
            raise _invalid(
                f"at most {MAX_PREFERRED_LPS} distinct priority LPs", INVALID_LP_ID, "preferred_lps"
            )
        if any(not lp or len(lp) > 64 for lp in edit.preferred_lps):
            raise _invalid("an LP id is 1..64 characters", INVALID_LP_ID, "preferred_lps")
    elif isinstance(edit, RemoveSymbolMode):
        _symbol(edit.symbol)
    elif isinstance(edit, PutOverride):
        o = edit.override
        if not o.account_id.isdigit():
            raise _invalid("account_id must be digits", Reason.INVALID_ACCOUNT_ID, "account_id")
        _ratio(o.book, o.c_book_hedge_ratio)
        _reason(o.reason)
    elif isinstance(edit, DeleteOverride):
        if not edit.account_id.isdigit():
            raise _invalid("account_id must be digits", Reason.INVALID_ACCOUNT_ID, "account_id")
    elif isinstance(edit, CreateRule | UpdateRule):
        _group_rule(edit.rule)
    elif isinstance(edit, SetVolumeLimit):
        if edit.symbol is not None:
            _symbol(edit.symbol)
        if edit.client_group is not None and not 0 < len(edit.client_group) <= 64:
            raise _invalid("clientGroup is 1..64 characters", INVALID_CLIENT_GROUP, "client_group")
        if edit.max_lots is not None:
            _lots(edit.max_lots, "max_volume")
    elif isinstance(
        edit,
        SetFlowThreshold | RemoveFlowThreshold | SetVolatilityThreshold | RemoveVolatilityThreshold,
    ):
        _validate_thresholds(edit)
    elif isinstance(edit, SetExposureLimit):
        _symbol(edit.symbol)
        if edit.max_net_lots is not None and (
            not edit.max_net_lots.is_finite() or edit.max_net_lots <= 0
        ):
            raise _invalid(
                "max_net_volume must be positive", Reason.INVALID_DECIMAL, "max_net_volume"
            )


# --- applying --------------------------------------------------------------------------------


async def change(conn: Conn, request: ChangeRequest) -> ChangeResult:
    """Apply ``request`` in one transaction under the config-version lock (see the module doc)."""
    if not request.edits:
        raise InvalidArgument("a change has at least one edit", reason=EMPTY_CHANGE)
    for edit in request.edits:
        validate(edit)
    async with conn.transaction():
        await conn.execute("LOCK TABLE router.config_versions IN EXCLUSIVE MODE")
        before = await snapshot(conn)
        expected = request.expected_version
        if expected is not None and expected != before.version:
            raise FxError(
                f"the routing configuration is at version {before.version}, not {expected}",
                reason=CONFIG_VERSION_CHANGED,
                metadata={"expected_version": str(expected), "version": str(before.version)},
                code=grpc.StatusCode.ABORTED,
            )
        version: int = await conn.fetchval(
            "INSERT INTO router.config_versions (changed_table, actor, note) "
            "VALUES ('admin', $1, $2) RETURNING version",
            request.actor[:64] or None,
            request.note[:256] or None,
        )
        created: list[int] = []
        for edit in request.edits:
            rule_id = await _apply(conn, edit)
            if rule_id is not None:
                created.append(rule_id)
        after = await snapshot(conn)
    return ChangeResult(version, before, after, tuple(created))


async def _apply(conn: Conn, edit: Edit) -> int | None:
    if isinstance(edit, SetExecutionMode):
        await _set_mode(conn, edit)
    elif isinstance(edit, RemoveSymbolMode):
        await _remove_symbol_mode(conn, edit.symbol)
    elif isinstance(edit, PutOverride):
        o = edit.override
        await conn.execute(
            "INSERT INTO router.account_overrides "
            "(account_id, book, c_book_hedge_ratio, reason, enabled) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (account_id) DO UPDATE SET book = EXCLUDED.book, "
            "c_book_hedge_ratio = EXCLUDED.c_book_hedge_ratio, reason = EXCLUDED.reason, "
            "enabled = EXCLUDED.enabled",
            o.account_id,
            o.book.value,
            o.c_book_hedge_ratio,
            o.reason,
            o.enabled,
        )
    elif isinstance(edit, DeleteOverride):
        tag = await conn.execute(
            "DELETE FROM router.account_overrides WHERE account_id = $1", edit.account_id
        )
        if tag.endswith(" 0"):
            raise NotFound(
                f"account {edit.account_id} has no override",
                reason=OVERRIDE_NOT_FOUND,
                metadata={"account_id": edit.account_id},
            )
    elif isinstance(edit, CreateRule):
        r = edit.rule
        rule_id: int = await conn.fetchval(
            "INSERT INTO router.routing_rules "
            "(priority, client_group, symbol, book, c_book_hedge_ratio, reason, enabled) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING rule_id",
            r.priority,
            r.client_group,
            r.symbol,
            r.book.value,
            r.c_book_hedge_ratio,
            r.reason,
            r.enabled,
        )
        return rule_id
    elif isinstance(edit, UpdateRule):
        r = edit.rule
        tag = await conn.execute(
            "UPDATE router.routing_rules SET priority = $2, client_group = $3, symbol = $4, "
            "book = $5, c_book_hedge_ratio = $6, reason = $7, enabled = $8 "
            "WHERE rule_id = $1 AND reason <> ALL($9::text[])",
            r.rule_id,
            r.priority,
            r.client_group,
            r.symbol,
            r.book.value,
            r.c_book_hedge_ratio,
            r.reason,
            r.enabled,
            sorted(RESERVED_REASONS),
        )
        _found(tag, edit.rule.rule_id)
    elif isinstance(edit, DeleteRule):
        tag = await conn.execute(
            "DELETE FROM router.routing_rules WHERE rule_id = $1 AND reason <> ALL($2::text[])",
            edit.rule_id,
            sorted(RESERVED_REASONS),
        )
        _found(tag, edit.rule_id)
    elif isinstance(edit, SetVolumeLimit):
        await _set_volume_limit(
            conn, edit.client_group, edit.symbol, edit.max_lots, edit.over_limit
        )
    elif isinstance(edit, SetExposureLimit):
        if edit.max_net_lots is None:
            await conn.execute("DELETE FROM router.exposure_limits WHERE symbol = $1", edit.symbol)
        else:
            await conn.execute(
                "INSERT INTO router.exposure_limits (symbol, max_net_lots) VALUES ($1, $2) "
                "ON CONFLICT (symbol) DO UPDATE SET max_net_lots = EXCLUDED.max_net_lots",
                edit.symbol,
                edit.max_net_lots,
            )
    else:
        await _apply_threshold(conn, edit)
    return None


async def _apply_threshold(conn: Conn, edit: Edit) -> None:
    """The flow and volatility threshold edits (one row per scope: NULL = any)."""
    if isinstance(edit, SetFlowThreshold):
        t = edit.threshold
        await conn.execute(
            "INSERT INTO router.flow_thresholds (client_group, min_closed_deals, net_profit_min, "
            "win_rate_min, min_markout_fills, toxicity_min_bps, latency_arb_share_min) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT ((coalesce(client_group, ''))) DO UPDATE SET "
            "min_closed_deals = EXCLUDED.min_closed_deals, "
            "net_profit_min = EXCLUDED.net_profit_min, win_rate_min = EXCLUDED.win_rate_min, "
            "min_markout_fills = EXCLUDED.min_markout_fills, "
            "toxicity_min_bps = EXCLUDED.toxicity_min_bps, "
            "latency_arb_share_min = EXCLUDED.latency_arb_share_min",
            t.client_group,
            t.min_closed_deals,
            t.net_profit_min,
            t.win_rate_min,
            t.min_markout_fills,
            t.toxicity_min_bps,
            t.latency_arb_share_min,
        )
    elif isinstance(edit, RemoveFlowThreshold):
        tag = await conn.execute(
            "DELETE FROM router.flow_thresholds WHERE coalesce(client_group, '') = coalesce($1, '')",
            edit.client_group,
        )
        if tag.endswith(" 0"):
            scope = edit.client_group or "*"
            raise NotFound(
                f"no flow threshold row for client group {scope}",
                reason=THRESHOLD_NOT_FOUND,
                metadata={"client_group": scope},
            )
    elif isinstance(edit, SetVolatilityThreshold):
        v = edit.threshold
        await conn.execute(
            "INSERT INTO router.volatility_thresholds (symbol, max_bps, book, c_book_hedge_ratio) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT ((coalesce(symbol, ''))) DO UPDATE SET "
            "max_bps = EXCLUDED.max_bps, book = EXCLUDED.book, "
            "c_book_hedge_ratio = EXCLUDED.c_book_hedge_ratio",
            v.symbol,
            v.max_bps,
            v.book.value,
            v.c_book_hedge_ratio,
        )
    elif isinstance(edit, RemoveVolatilityThreshold):
        tag = await conn.execute(
            "DELETE FROM router.volatility_thresholds WHERE coalesce(symbol, '') = coalesce($1, '')",
            edit.symbol,
        )
        if tag.endswith(" 0"):
            scope = edit.symbol or "*"
            raise NotFound(
                f"no volatility threshold row for symbol {scope}",
                reason=THRESHOLD_NOT_FOUND,
                metadata={"symbol": scope},
            )


def _found(tag: str, rule_id: int) -> None:
    if tag.endswith(" 0"):
        raise NotFound(
            f"no group rule {rule_id}", reason=RULE_NOT_FOUND, metadata={"rule_id": str(rule_id)}
        )


async def _set_volume_limit(
    conn: Conn,
    client_group: str | None,
    symbol: str | None,
    max_lots: Decimal | None,
    over_limit: OverLimit,
) -> None:
    if max_lots is None:
        await conn.execute(
            "DELETE FROM router.bbook_volume_limits "
            "WHERE coalesce(client_group, '') = coalesce($1, '') "
            "AND coalesce(symbol, '') = coalesce($2, '')",
            client_group,
            symbol,
        )
        return
    await conn.execute(
        "INSERT INTO router.bbook_volume_limits (client_group, symbol, max_lots, over_limit) "
        "VALUES ($1, $2, $3, $4) "
        "ON CONFLICT ((coalesce(client_group, '')), (coalesce(symbol, ''))) "
        "DO UPDATE SET max_lots = EXCLUDED.max_lots, over_limit = EXCLUDED.over_limit",
        client_group,
        symbol,
        max_lots,
        over_limit.value,
    )


async def _set_mode(conn: Conn, edit: SetExecutionMode) -> None:
    if edit.symbol is None:
        await conn.execute(
            "DELETE FROM router.routing_rules WHERE reason = $1", EXECUTION_MODE_GLOBAL
        )
        if edit.book is not Book.B:
            await conn.execute(
                "INSERT INTO router.routing_rules "
                "(priority, client_group, symbol, book, c_book_hedge_ratio, reason) "
                "VALUES ($1, NULL, NULL, $2, $3, $4)",
                GLOBAL_PRIORITY,
                edit.book.value,
                edit.hedge_ratio,
                EXECUTION_MODE_GLOBAL,
            )
        return
    await conn.execute(
        "DELETE FROM router.routing_rules WHERE reason = $1 AND symbol = $2",
        EXECUTION_MODE_SYMBOL,
        edit.symbol,
    )
    await conn.execute(
        "INSERT INTO router.routing_rules "
        "(priority, client_group, symbol, book, c_book_hedge_ratio, reason) "
        "VALUES ($1, NULL, $2, $3, $4, $5)",
        SYMBOL_PRIORITY,
        edit.symbol,
        edit.book.value,
        edit.hedge_ratio,
        EXECUTION_MODE_SYMBOL,
    )
    await _set_volume_limit(conn, None, edit.symbol, edit.max_volume, edit.over_limit)
    await conn.execute(
        "INSERT INTO router.routing_symbol_settings (symbol, lp_fallback, preferred_lps) "
        "VALUES ($1, coalesce($2, 'REJECT'), $3) ON CONFLICT (symbol) DO UPDATE "
        "SET lp_fallback = coalesce($2, router.routing_symbol_settings.lp_fallback), "
        "preferred_lps = EXCLUDED.preferred_lps",
        edit.symbol,
        edit.fallback.value if edit.fallback is not None else None,
        list(edit.preferred_lps),
    )


async def _remove_symbol_mode(conn: Conn, symbol: str) -> None:
    tag = await conn.execute(
        "DELETE FROM router.routing_rules WHERE reason = $1 AND symbol = $2",
        EXECUTION_MODE_SYMBOL,
        symbol,
    )
    if tag.endswith(" 0"):
        raise NotFound(
            f"{symbol} has no execution mode of its own",
            reason=SYMBOL_RULE_NOT_FOUND,
            metadata={"symbol": symbol},
        )
    await _set_volume_limit(conn, None, symbol, None, OverLimit.SPLIT)
    await conn.execute(
        "UPDATE router.routing_symbol_settings SET lp_fallback = 'REJECT', preferred_lps = '{}' "
        "WHERE symbol = $1",
        symbol,
    )
    # A row left with nothing but the defaults says what no row says: remove it.
    await conn.execute(
        "DELETE FROM router.routing_symbol_settings WHERE symbol = $1 AND lot_step = $2 "
        "AND lp_fallback = 'REJECT' AND preferred_lps = '{}'",
        symbol,
        DEFAULT_LOT_STEP,
    )


# --- the execution mode view -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolMode:
    """One symbol's own execution mode with its threshold, fallback and priority LPs."""

    symbol: str
    book: Book
    hedge_ratio: Decimal
    max_volume: Decimal | None
    over_limit: OverLimit
    fallback: LpFallback
    preferred_lps: tuple[str, ...]


def global_mode(config: ConfigSnapshot) -> tuple[Book, Decimal]:
    for rule in config.rules:
        if rule.reason == EXECUTION_MODE_GLOBAL and rule.enabled:
            return rule.book, rule.c_book_hedge_ratio
    return Book.B, _ZERO


def symbol_modes(config: ConfigSnapshot) -> list[SymbolMode]:
    limits = {v.symbol: v for v in config.volume_limits if v.client_group is None}
    settings = dict(config.symbols)
    modes = []
    for rule in config.rules:
        if rule.reason != EXECUTION_MODE_SYMBOL or rule.symbol is None:
            continue
        limit = limits.get(rule.symbol)
        routing = settings.get(rule.symbol, SymbolRouting())
        modes.append(
            SymbolMode(
                symbol=rule.symbol,
                book=rule.book,
                hedge_ratio=rule.c_book_hedge_ratio,
                max_volume=limit.max_lots if limit is not None else None,
                over_limit=limit.over_limit if limit is not None else OverLimit.SPLIT,
                fallback=routing.lp_fallback,
                preferred_lps=routing.preferred_lps,
            )
        )
    return sorted(modes, key=lambda m: m.symbol)


def group_rules(rules: Sequence[RoutingRule]) -> list[RoutingRule]:
    """The rules that are not execution modes."""
    return [r for r in rules if r.reason not in RESERVED_REASONS]
