"""Demo trading catalogue of a development stack: realistic contract specs and starting prices.

The one place the demo data lives: each entry feeds oms's seed (contract specs), quotes's seed
(markups, spread limit) and the LP simulator (starting prices), so digits, specs and prices agree
everywhere. The services own their tables and seeds; they are handed these values as data
(``devstack/seeds.py``, ``devstack/lpsim.py``) and never import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Trading week for FX and metals: Sunday 22:00 to Friday 22:00 UTC (ISO weekday, 1 = Monday).
FX_SESSIONS: tuple[tuple[int, str, str], ...] = (
    (7, "22:00", "24:00"),
    (1, "00:00", "24:00"),
    (2, "00:00", "24:00"),
    (3, "00:00", "24:00"),
    (4, "00:00", "24:00"),
    (5, "00:00", "22:00"),
)
ALWAYS_OPEN: tuple[tuple[int, str, str], ...] = tuple((d, "00:00", "24:00") for d in range(1, 8))


@dataclass(frozen=True, slots=True)
class DemoSymbol:
    symbol: str
    description: str
    asset_class: str
    base_currency: str
    quote_currency: str
    digits: int
    contract_size: Decimal
    volume_min: Decimal
    volume_max: Decimal
    volume_step: Decimal
    stops_level_points: int
    margin_percent: Decimal  # of the leverage-based margin (100 = plain 1/leverage)
    commission_per_lot: Decimal  # per lot per side, in commission_currency
    commission_currency: str
    swap_long_points: Decimal
    swap_short_points: Decimal
    swap_triple_weekday: int  # ISO weekday that books three days of swap
    sessions: tuple[tuple[int, str, str], ...]
    # Pricing (quotes): markup added to the LP ask and taken from the LP bid, in points.
    markup_bid_points: int
    markup_ask_points: int
    max_spread_points: int  # raw LP spread above this is dropped as bad data
    default_deviation_points: int
    # LP simulator: starting mid, raw half-spread in points, annualised volatility.
    start_mid: Decimal
    lp_half_spread_points: int
    annual_volatility: Decimal

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)


def _fx(
    symbol: str, desc: str, digits: int, mid: str, vol: str, swap_l: str, swap_s: str
) -> DemoSymbol:
    return DemoSymbol(
        symbol=symbol,
        description=desc,
        asset_class="FX",
        base_currency=symbol[:3],
        quote_currency=symbol[3:],
        digits=digits,
        contract_size=Decimal(100000),
        volume_min=Decimal("0.01"),
        volume_max=Decimal(50),
        volume_step=Decimal("0.01"),
        stops_level_points=10,
        margin_percent=Decimal(100),
        commission_per_lot=Decimal("3.50"),
        commission_currency="USD",
        swap_long_points=Decimal(swap_l),
        swap_short_points=Decimal(swap_s),
        swap_triple_weekday=3,
        sessions=FX_SESSIONS,
        markup_bid_points=5,
        markup_ask_points=5,
        max_spread_points=200,
        default_deviation_points=20,
        start_mid=Decimal(mid),
        lp_half_spread_points=1,
        annual_volatility=Decimal(vol),
    )


DEMO_SYMBOLS: tuple[DemoSymbol, ...] = (
    _fx("EURUSD", "Euro vs US Dollar", 5, "1.08450", "0.07", "-6.50", "1.20"),
    _fx("GBPUSD", "Great Britain Pound vs US Dollar", 5, "1.26500", "0.08", "-4.10", "0.40"),
    _fx("USDJPY", "US Dollar vs Japanese Yen", 3, "151.500", "0.09", "12.30", "-24.80"),
    DemoSymbol(
        symbol="XAUUSD",
        description="Gold vs US Dollar",
        asset_class="METAL",
        base_currency="XAU",
        quote_currency="USD",
        digits=2,
        contract_size=Decimal(100),
        volume_min=Decimal("0.01"),
        volume_max=Decimal(20),
        volume_step=Decimal("0.01"),
        stops_level_points=50,
        margin_percent=Decimal(100),
        commission_per_lot=Decimal("5.00"),
        commission_currency="USD",
        swap_long_points=Decimal("-35.00"),
        swap_short_points=Decimal("12.00"),
        swap_triple_weekday=3,
        sessions=FX_SESSIONS,
        markup_bid_points=10,
        markup_ask_points=10,
        max_spread_points=500,
        default_deviation_points=50,
        start_mid=Decimal("2650.00"),
        lp_half_spread_points=10,
        annual_volatility=Decimal("0.15"),
    ),
    DemoSymbol(
        symbol="BTCUSD",
        description="Bitcoin vs US Dollar",
        asset_class="CRYPTO",
        base_currency="BTC",
        quote_currency="USD",
        digits=2,
        contract_size=Decimal(1),
        volume_min=Decimal("0.01"),
        volume_max=Decimal(10),
        volume_step=Decimal("0.01"),
        stops_level_points=1000,
        margin_percent=Decimal(500),
        commission_per_lot=Decimal("10.00"),
        commission_currency="USD",
        swap_long_points=Decimal("-2000.00"),
        swap_short_points=Decimal("-2000.00"),
        swap_triple_weekday=5,
        sessions=ALWAYS_OPEN,
        markup_bid_points=1500,
        markup_ask_points=1500,
        max_spread_points=20000,
        default_deviation_points=5000,
        start_mid=Decimal("67000.00"),
        lp_half_spread_points=1000,
        annual_volatility=Decimal("0.60"),
    ),
    DemoSymbol(
        symbol="ETHUSD",
        description="Ethereum vs US Dollar",
        asset_class="CRYPTO",
        base_currency="ETH",
        quote_currency="USD",
        digits=2,
        contract_size=Decimal(1),
        volume_min=Decimal("0.1"),
        volume_max=Decimal(100),
        volume_step=Decimal("0.1"),
        stops_level_points=100,
        margin_percent=Decimal(500),
        commission_per_lot=Decimal("1.00"),
        commission_currency="USD",
        swap_long_points=Decimal("-150.00"),
        swap_short_points=Decimal("-150.00"),
        swap_triple_weekday=5,
        sessions=ALWAYS_OPEN,
        markup_bid_points=100,
        markup_ask_points=100,
        max_spread_points=2000,
        default_deviation_points=500,
        start_mid=Decimal("3400.00"),
        lp_half_spread_points=50,
        annual_volatility=Decimal("0.70"),
    ),
)

DEMO_BY_SYMBOL = {s.symbol: s for s in DEMO_SYMBOLS}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    login: str
    password: str
    currency: str
    leverage: int
    margin_mode: str  # HEDGING | NETTING
    account_type: str  # DEMO | LIVE
    client_group: str
    initial_deposit: Decimal


DEMO_ACCOUNT = DemoAccount(
    login="demo",
    password="demo1234",
    currency="USD",
    leverage=100,
    margin_mode="HEDGING",
    account_type="DEMO",
    client_group="retail",
    initial_deposit=Decimal("10000.00"),
)
