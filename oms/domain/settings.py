"""A symbol's settings across the services that follow it, and the risk settings of new orders.

Pure: no I/O. ``SymbolSettings`` is everything an admin sets on a symbol; oms owns it and writes it
to ``oms.symbols`` plus the pricing row of quotes and the B-book row of router
(``oms.store.settings``). ``SymbolChange`` is a partial change merged over the stored settings.

``RiskSettings`` is one row of ``oms.risk_settings``; ``RiskTable`` holds the global row and the
per-group rows and answers the effective ``RiskLimits`` of a client group (a group's NULL falls
back to the global value; a global NULL means no limit). ``limit_account`` folds those limits into
the account an order is validated against (the stricter of the account's and the group's limit
wins), so the order checks stay the ones in ``oms.domain.validation``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason
from oms.domain.model import Account, AssetClass, Session
from oms.domain.stopout import AccountRisk

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9._]{1,32}$")  # what quotes.symbol_settings admits
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
BASE_PATTERN = re.compile(r"^[A-Z0-9]{2,8}$")
GROUP_MAX = 64
DEFAULT_MAX_SPREAD_POINTS = 1000


def _invalid(field_name: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, reason=Reason.INVALID_FIELD, metadata={"field": field_name})


def check_symbol_name(symbol: str) -> str:
    """The symbol, or INVALID_ARGUMENT INVALID_SYMBOL for a name the services cannot hold."""
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise InvalidArgument(
            f"symbol must match {SYMBOL_PATTERN.pattern}, got {symbol!r}",
            reason=Reason.INVALID_SYMBOL,
            metadata={"field": "symbol"},
        )
    return symbol


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    """Everything set on one symbol. Owned by oms; quotes and router hold copies of their part."""

    symbol: str
    asset_class: AssetClass
    base_currency: str
    quote_currency: str
    digits: int
    contract_size: Decimal
    volume_min: Decimal
    volume_max: Decimal
    volume_step: Decimal
    description: str = ""
    margin_percent: Decimal = Decimal(100)
    commission_per_lot: Decimal = Decimal(0)
    commission_currency: str = ""  # '' on create: the quote currency
    swap_long_points: Decimal = Decimal(0)
    swap_short_points: Decimal = Decimal(0)
    swap_triple_weekday: int = 3
    sessions: tuple[Session, ...] = ()  # none: always open
    stops_level_points: int = 0
    default_deviation_points: int = 0
    enabled: bool = True  # oms: opening orders allowed
    # quotes.symbol_settings: markup added to the LP spread, split bid / ask.
    spread_markup_points: int = 0
    max_spread_points: int = DEFAULT_MAX_SPREAD_POINTS
    # router.bbook_symbol_settings
    bbook_enabled: bool = True
    max_quote_age_ms: int | None = None  # None: the router's default

    @property
    def markup_bid_points(self) -> int:
        return self.spread_markup_points // 2

    @property
    def markup_ask_points(self) -> int:
        return self.spread_markup_points - self.spread_markup_points // 2

    def checked(self) -> SymbolSettings:
        """These settings, or INVALID_ARGUMENT naming the first field out of range."""
        check_symbol_name(self.symbol)
        if not BASE_PATTERN.fullmatch(self.base_currency):
            raise _invalid("baseCurrency", "base currency must be 2-8 letters or digits")
        for name, value in (
            ("quoteCurrency", self.quote_currency),
            ("commissionCurrency", self.commission_currency),
        ):
            if not CURRENCY_PATTERN.fullmatch(value):
                raise _invalid(name, f"{name} must be an ISO 4217 code, got {value!r}")
        if not 0 <= self.digits <= 8:
            raise _invalid("digits", f"digits must be 0..8, got {self.digits}")
        for name, number in (
            ("contractSize", self.contract_size),
            ("volumeMin", self.volume_min),
            ("volumeMax", self.volume_max),
            ("volumeStep", self.volume_step),
            ("marginPercent", self.margin_percent),
        ):
            if not number.is_finite() or number <= 0:
                raise _invalid(name, f"{name} must be positive, got {number}")
        if self.volume_min > self.volume_max:
            raise _invalid("volumeMin", "volumeMin must not be above volumeMax")
        if self.volume_step > self.volume_min or self.volume_min % self.volume_step != 0:
            raise _invalid("volumeStep", "volumeStep must divide volumeMin")
        if not self.commission_per_lot.is_finite() or self.commission_per_lot < 0:
            raise _invalid("commissionPerLot", "commissionPerLot must not be negative")
        for name, number in (
            ("swapLong", self.swap_long_points),
            ("swapShort", self.swap_short_points),
        ):
            if not number.is_finite():
                raise _invalid(name, f"{name} must be a finite decimal")
        if not 1 <= self.swap_triple_weekday <= 7:
            raise _invalid("tripleSwapDay", "tripleSwapDay is an ISO weekday 1..7")
        for name, integer in (
            ("stopsLevel", self.stops_level_points),
            ("defaultDeviation", self.default_deviation_points),
            ("spreadMarkup", self.spread_markup_points),
        ):
            if integer < 0:
                raise _invalid(name, f"{name} must not be negative, got {integer}")
        if self.max_spread_points <= 0:
            raise _invalid("maxSpread", "maxSpread must be positive")
        if self.max_quote_age_ms is not None and self.max_quote_age_ms <= 0:
            raise _invalid("maxQuoteAgeMs", "maxQuoteAgeMs must be positive")
        for s in self.sessions:
            if not (1 <= s.weekday <= 7 and 0 <= s.start_minute < s.end_minute <= 1440):
                raise _invalid(
                    "tradingSessions",
                    "a session is {weekday 1..7, from < to within 00:00..24:00}",
                )
        return self

    def sessions_json(self) -> list[dict[str, Any]]:
        """``oms.symbols.trading_sessions`` as ``oms.domain.rules.parse_sessions`` reads it."""
        return [
            {"weekday": s.weekday, "from": _hhmm(s.start_minute), "to": _hhmm(s.end_minute)}
            for s in self.sessions
        ]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# The fields a change may set: every field of SymbolSettings but the symbol itself.
CHANGEABLE = tuple(f.name for f in fields(SymbolSettings) if f.name != "symbol")
# What a new symbol cannot do without.
REQUIRED_ON_CREATE = (
    "asset_class",
    "base_currency",
    "quote_currency",
    "digits",
    "contract_size",
    "volume_min",
    "volume_max",
    "volume_step",
)


@dataclass(frozen=True, slots=True)
class SymbolChange:
    """Fields to set on a symbol (absent: unchanged). ``values`` keys are SymbolSettings fields."""

    symbol: str
    values: dict[str, Any] = field(default_factory=dict)

    def create(self) -> SymbolSettings:
        """New settings from this change (INVALID_ARGUMENT MISSING_FIELD without a required one)."""
        for name in REQUIRED_ON_CREATE:
            if self.values.get(name) is None:
                raise InvalidArgument(
                    f"{name} is required to create a symbol",
                    reason=Reason.MISSING_FIELD,
                    metadata={"field": name},
                )
        values = {k: v for k, v in self.values.items() if v is not None or k == "max_quote_age_ms"}
        if not values.get("commission_currency"):
            values["commission_currency"] = values["quote_currency"]
        return SymbolSettings(symbol=self.symbol, **values).checked()

    def apply(self, current: SymbolSettings) -> SymbolSettings:
        """``current`` with this change's fields set, checked."""
        return replace(current, **self.values).checked()

    @property
    def empty(self) -> bool:
        return not self.values


# --- risk settings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """One row of ``oms.risk_settings``: group '' is global. None: inherit (group) / no limit."""

    client_group: str = ""
    margin_call_level: Decimal | None = None
    stop_out_level: Decimal | None = None
    max_leverage: int | None = None
    max_position_size: Decimal | None = None
    max_daily_volume: Decimal | None = None
    max_open_positions: int | None = None

    def checked(self) -> RiskSettings:
        if len(self.client_group) > GROUP_MAX:
            raise _invalid("group", f"group is longer than {GROUP_MAX} characters")
        if self.margin_call_level is not None and not self.margin_call_level > 0:
            raise _invalid("marginCallLevel", "marginCallLevel must be positive")
        if self.stop_out_level is not None and not self.stop_out_level >= 0:
            raise _invalid("stopOutLevel", "stopOutLevel must not be negative")
        if (
            self.margin_call_level is not None
            and self.stop_out_level is not None
            and self.stop_out_level >= self.margin_call_level
        ):
            raise _invalid("stopOutLevel", "stopOutLevel must be below marginCallLevel")
        if self.max_leverage is not None and not 1 <= self.max_leverage <= 500:
            raise InvalidArgument(
                f"maxLeverage must be 1..500, got {self.max_leverage}",
                reason=Reason.INVALID_LEVERAGE,
                metadata={"field": "maxLeverage"},
            )
        for name, number in (
            ("maxPositionSize", self.max_position_size),
            ("maxDailyVolume", self.max_daily_volume),
        ):
            if number is not None and (not number.is_finite() or number <= 0):
                raise _invalid(name, f"{name} must be positive")
        if self.max_open_positions is not None and self.max_open_positions <= 0:
            raise _invalid("maxOpenPositions", "maxOpenPositions must be positive")
        return self


LIMIT_FIELDS = tuple(f.name for f in dataclasses.fields(RiskSettings) if f.name != "client_group")


@dataclass(frozen=True, slots=True)
class RiskTable:
    """The global risk settings and the per-group ones, as loaded (one snapshot)."""

    global_row: RiskSettings = field(default_factory=RiskSettings)
    groups: dict[str, RiskSettings] = field(default_factory=dict)

    def effective(self, client_group: str) -> RiskSettings:
        """The limits for a group: its own values, the global ones where it has none."""
        row = self.groups.get(client_group)
        if row is None:
            return replace(self.global_row, client_group=client_group)
        merged = {
            name: getattr(row, name)
            if getattr(row, name) is not None
            else getattr(self.global_row, name)
            for name in LIMIT_FIELDS
        }
        return RiskSettings(client_group=client_group, **merged)

    def rows(self) -> list[RiskSettings]:
        return [self.global_row, *sorted(self.groups.values(), key=lambda r: r.client_group)]


def limit_account(account: Account, limits: RiskSettings) -> Account:
    """The account as new orders are checked: the stricter of its own and the group's limits."""
    changes: dict[str, Any] = {}
    if limits.max_leverage is not None and account.leverage > limits.max_leverage:
        changes["leverage"] = limits.max_leverage
    if limits.max_open_positions is not None and (
        account.max_open_positions <= 0 or account.max_open_positions > limits.max_open_positions
    ):
        changes["max_open_positions"] = limits.max_open_positions
    if limits.max_daily_volume is not None and (
        account.max_daily_volume is None or account.max_daily_volume > limits.max_daily_volume
    ):
        changes["max_daily_volume"] = limits.max_daily_volume
    return replace(account, **changes) if changes else account


# --- margin-call and stop-out levels -------------------------------------------------------------


def effective_levels(
    margin_call_level: Decimal, stop_out_level: Decimal, limits: RiskSettings
) -> tuple[Decimal, Decimal]:
    """The margin-call and stop-out levels (percent) an account is watched at.

    The stricter (the higher) of the account's own level and its group's (else the global)
    setting, each level on its own: a risk setting can raise an account's levels, never lower
    them, the same "stricter wins" rule as every other limit (``limit_account``). To loosen one
    account, lower its own level and leave the group's unset or lower. A stop-out level that ends
    up at or above the margin-call level makes the stop-out come first (no margin call is raised).
    """
    call, out = margin_call_level, stop_out_level
    if limits.margin_call_level is not None and limits.margin_call_level > call:
        call = limits.margin_call_level
    if limits.stop_out_level is not None and limits.stop_out_level > out:
        out = limits.stop_out_level
    return call, out


def level_account(account: Account, limits: RiskSettings) -> Account:
    """The account with the margin-call and stop-out levels it is watched at (``effective_levels``)."""
    call, out = effective_levels(account.margin_call_level, account.stop_out_level, limits)
    if call == account.margin_call_level and out == account.stop_out_level:
        return account
    return replace(account, margin_call_level=call, stop_out_level=out)


def levels_key(table: RiskTable) -> tuple[tuple[str, Decimal | None, Decimal | None], ...]:
    """What of ``table`` the margin levels depend on (to tell whether a reload changed them)."""
    return tuple((r.client_group, r.margin_call_level, r.stop_out_level) for r in table.rows())


def level_risk(risk: AccountRisk, table: RiskTable) -> AccountRisk:
    """``risk`` watched at the levels ``table`` gives its group (``effective_levels``)."""
    own_call = risk.own_margin_call_level
    own_out = risk.own_stop_out_level
    if own_call is None:
        own_call = risk.margin_call_level
    if own_out is None:
        own_out = risk.stop_out_level
    call, out = effective_levels(own_call, own_out, table.effective(risk.client_group))
    if (
        call == risk.margin_call_level
        and out == risk.stop_out_level
        and risk.own_margin_call_level is not None
        and risk.own_stop_out_level is not None
    ):
        return risk
    return replace(
        risk,
        margin_call_level=call,
        stop_out_level=out,
        own_margin_call_level=own_call,
        own_stop_out_level=own_out,
    )
