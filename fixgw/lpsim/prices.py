"""Simulated LP prices: a geometric random walk per symbol, quantized to the symbol's digits."""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """What the walk needs to know about one symbol."""

    symbol: str
    digits: int
    start_mid: Decimal
    half_spread_points: int
    annual_volatility: Decimal

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)


@dataclass(slots=True)
class SymbolPrice:
    """Current bid/ask of one symbol."""

    spec: PriceSpec
    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


class PriceBook:
    """The simulator's prices: walks them, and lets the control API set them exactly."""

    def __init__(self, specs: list[PriceSpec], rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self.prices: dict[str, SymbolPrice] = {}
        for spec in specs:
            half = spec.point * spec.half_spread_points
            mid = spec.start_mid.quantize(spec.point, rounding=ROUND_HALF_EVEN)
            self.prices[spec.symbol] = SymbolPrice(spec, mid - half, mid + half)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.prices

    def get(self, symbol: str) -> SymbolPrice:
        return self.prices[symbol]

    def step(self, dt_seconds: float, exclude: Collection[str] = ()) -> None:
        """Advance every symbol (but those in ``exclude``) by one GBM step of ``dt_seconds``."""
        for symbol, price in self.prices.items():
            if symbol not in exclude:
                self._step_one(price, dt_seconds)

    def step_symbol(self, symbol: str, dt_seconds: float) -> None:
        """Advance one symbol by one GBM step of ``dt_seconds``."""
        self._step_one(self.prices[symbol], dt_seconds)

    def _step_one(self, price: SymbolPrice, dt_seconds: float) -> None:
        spec = price.spec
        sigma = float(spec.annual_volatility)
        dt = dt_seconds / SECONDS_PER_YEAR
        shock = sigma * math.sqrt(dt) * self._rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma * dt
        factor = Decimal(repr(math.exp(shock)))
        half = spec.point * spec.half_spread_points
        mid = (price.mid * factor).quantize(spec.point, rounding=ROUND_HALF_EVEN)
        # Keep the bid strictly positive however far the walk wanders.
        mid = max(mid, half + spec.point)
        price.bid = mid - half
        price.ask = mid + half

    def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Set a symbol's bid and ask exactly (no quantization: tests rely on the exact values)."""
        if bid <= 0 or ask <= 0 or bid > ask:
            raise ValueError("need 0 < bid <= ask")
        price = self.prices[symbol]
        price.bid = bid
        price.ask = ask
