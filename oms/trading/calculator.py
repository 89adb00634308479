"""Risk tools for clients (``LotMarginCalculator``): size a trade by the money it risks, and preview
an order's margin.

Both read the account's live state (positions and quotes) and change nothing. Input a client can
fix raises ``InvalidArgument`` with a reason (UNKNOWN_SYMBOL, NO_QUOTE, STOP_LOSS_WRONG_SIDE, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from fxmesh.errors import InvalidArgument
from fxmesh.money import CURRENCY_DIGITS, ZERO, places, quantize, to_money
from fxmesh.reasons import Reason
from oms.domain import accounting
from oms.domain import model as domain
from oms.domain.accounting import MarginLeg
from oms.domain.commands import LotQuery, MarginQuery
from oms.domain.model import AccountId, NoConversionRate, Price, SymbolSpec
from oms.domain.results import LotResult, MarginPreview
from oms.trading.accounts import AccountState, load_account_state
from oms.trading.unit_of_work import UnitOfWork


def _invalid(message: str, reason: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


def _no_quote(detail: str) -> InvalidArgument:
    return InvalidArgument(f"no current price: {detail}", reason=Reason.NO_QUOTE)


def _spec(symbols: Mapping[str, SymbolSpec], symbol: str) -> SymbolSpec:
    spec = symbols.get(symbol)
    if spec is None:
        raise _invalid(f"no symbol {symbol}", Reason.UNKNOWN_SYMBOL, "symbol")
    return spec


def _price_places(value: Decimal, spec: SymbolSpec, field: str) -> None:
    if places(value) > spec.digits:
        raise InvalidArgument(
            f"{field} has more than {spec.digits} decimal places",
            reason=Reason.INVALID_PRECISION,
            metadata={"field": field, "max_places": str(spec.digits)},
        )


def _entry(
    given: Decimal | None,
    side: domain.Side,
    spec: SymbolSpec,
    prices: Mapping[str, Price],
    field: str,
) -> Decimal:
    """The given price, else the current opening price (ask for BUY, bid for SELL)."""
    if given is not None:
        _price_places(given, spec, field)
        return given
    price = prices.get(spec.symbol)
    if price is None:
        raise _no_quote(spec.symbol)
    return domain.opening_price(side, price)


class LotMarginCalculator:
    """CalculateLot and PreviewMargin."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def _state(
        self, account_id: AccountId, symbols: Mapping[str, SymbolSpec], prices: Mapping[str, Price]
    ) -> AccountState:
        async with self._uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            return await load_account_state(conn, account_id, symbols, prices, strict=False)

    async def calculate_lot(self, q: LotQuery) -> LotResult:
        """Volume = risk / (stop distance x contract size x quote->account rate), rounded down."""
        symbols, prices = await self._uow.market()
        spec = _spec(symbols, q.symbol)
        state = await self._state(q.account_id, symbols, prices)
        currency = state.account.currency
        entry = _entry(q.entry_price, q.side, spec, prices, "entry_price")
        if q.stop_loss is not None:
            _price_places(q.stop_loss, spec, "stop_loss")
            stop = q.stop_loss
            if (stop - entry) * q.side.sign >= 0:
                where = "below" if q.side is domain.Side.BUY else "above"
                raise _invalid(
                    f"a {q.side.value} stop loss must be {where} the entry price {entry}",
                    Reason.STOP_LOSS_WRONG_SIDE,
                    "stop_loss",
                )
        else:
            assert q.stop_loss_points is not None
            stop = entry - q.side.sign * q.stop_loss_points * spec.point
            if stop <= 0:
                raise _invalid(
                    "the stop loss distance reaches below zero",
                    Reason.INVALID_STOP_LOSS,
                    "stop_loss_points",
                )
        if q.risk_amount is not None:
            digits = CURRENCY_DIGITS.get(currency, 2)
            if places(q.risk_amount) > digits:
                raise InvalidArgument(
                    f"risk_amount has more than {digits} decimal places for {currency}",
                    reason=Reason.INVALID_PRECISION,
                    metadata={"field": "risk_amount", "max_places": str(digits)},
                )
            risk = q.risk_amount
        else:
            assert q.risk_percent is not None
            risk = to_money(state.figures.equity * q.risk_percent / 100, currency)
        try:
            per_lot = accounting.loss_per_lot(abs(entry - stop), spec, currency, prices)
            volume = accounting.lot_for_risk(risk, per_lot, spec) if risk > 0 else ZERO
            margin = domain.margin(volume, entry, state.account.leverage, spec, currency, prices)
        except NoConversionRate as exc:
            raise _no_quote(str(exc)) from None
        return LotResult(
            volume=volume,
            risk_amount=to_money(volume * per_lot, currency),
            margin=to_money(margin, currency),
            entry_price=entry,
            stop_loss=stop,
            currency=currency,
        )

    async def preview_margin(self, q: MarginQuery) -> MarginPreview:
        """Margin (larger-leg rule against open positions), commission and the account after."""
        symbols, prices = await self._uow.market()
        spec = _spec(symbols, q.symbol)
        problem = domain.volume_problem(q.volume, spec)
        if problem is not None:
            raise _invalid(problem[1], problem[0], "volume")
        price = _entry(q.price, q.side, spec, prices, "price")
        state = await self._state(q.account_id, symbols, prices)
        account, fig = state.account, state.figures
        currency = account.currency
        existing = [*accounting.position_legs(p.as_open() for p in state.positions)]
        existing += state.in_flight
        try:
            before, after = accounting.margin_change(
                existing,
                MarginLeg(q.symbol, q.side, q.volume, price),
                account.leverage,
                currency,
                symbols,
                prices,
                netting=account.margin_mode == "NETTING",
            )
            fee = domain.commission(q.volume, spec, currency, prices)
        except NoConversionRate as exc:
            raise _no_quote(str(exc)) from None
        needed = to_money(max(after - before, ZERO), currency)
        equity_after = fig.equity - fee
        used_after = to_money(after, currency)
        level = quantize(equity_after / used_after * 100, 2) if used_after > 0 else None
        return MarginPreview(
            margin=needed,
            commission=fee,
            free_margin_before=fig.free_margin,
            free_margin_after=equity_after - used_after - account.held,
            margin_level_after=level,
            sufficient=needed + fee <= fig.free_margin,
            currency=currency,
        )
