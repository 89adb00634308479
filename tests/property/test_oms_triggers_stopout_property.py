"""Stop-out thresholds, for random accounts: exact for one symbol, never late for several."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fxmesh.money import quantize
from oms.domain.model import AccountId, PositionId, Price, Side, SymbolSpec
from oms.domain.stopout import AccountRisk, RiskPosition, raw_equity_and_margin, thresholds

D = Decimal


def spec(symbol: str, digits: int, contract: str = "100000") -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=symbol[:3],
        quote_currency=symbol[3:],
        digits=digits,
        contract_size=D(contract),
        volume_min=D("0.01"),
        volume_max=D("100"),
        volume_step=D("0.01"),
        margin_percent=D(100),
        commission_per_lot=D(0),
        commission_currency="USD",
        default_deviation_points=20,
        enabled=True,
    )


# (symbol spec, account currency, mid price): linear and non-linear conversions alike.
CASES = [
    (spec("EURUSD", 5), "USD", D("1.10000")),
    (spec("GBPUSD", 5), "USD", D("1.27000")),
    (spec("USDJPY", 3), "USD", D("150.000")),  # P&L in JPY, converted through USDJPY itself
    (spec("EURGBP", 5), "GBP", D("0.85000")),
    (spec("EURUSD", 5), "EUR", D("1.10000")),  # P&L in USD, converted through EURUSD itself
    (spec("XAUUSD", 2, "100"), "USD", D("2350.00")),
]


def level(account: AccountRisk, prices: dict[str, Price]) -> Decimal:
    equity, used = raw_equity_and_margin(account, prices)
    return equity / used * 100


def quote_at(side: Side, price: Decimal, spread: Decimal) -> Price:
    """The quote whose closing price for ``side`` is ``price``."""
    return Price(price, price + spread) if side is Side.BUY else Price(price - spread, price)


@st.composite
def single_symbol_accounts(draw: st.DrawFn) -> tuple[AccountRisk, dict[str, Price], Decimal]:
    s, currency, mid = draw(st.sampled_from(CASES))
    point = s.point
    spread = point * draw(st.integers(0, 50))
    bid = quantize(mid * (1 + D(draw(st.integers(-300, 300))) / 10000), s.digits)
    now = {s.symbol: Price(bid, bid + spread)}
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    positions = tuple(
        RiskPosition(
            PositionId(n),
            s,
            side,
            D(draw(st.integers(1, 1000))) / 100,
            quantize(mid * (1 + D(draw(st.integers(-200, 200))) / 10000), s.digits),
        )
        for n in range(draw(st.integers(1, 3)))
    )
    stop_out = D(draw(st.sampled_from([20, 30, 50, 80])))
    leverage = draw(st.sampled_from([1, 10, 50, 100, 200, 500]))
    probe = AccountRisk(AccountId(1), currency, D(0), leverage, positions)
    pnl, used = raw_equity_and_margin(probe, now)
    start_level = D(draw(st.integers(int(stop_out) + 1, 5000)))
    balance = quantize(start_level / 100 * used - pnl, 2)
    account = AccountRisk(
        AccountId(1), currency, balance, leverage, positions, stop_out_level=stop_out
    )
    return account, now, stop_out


@settings(max_examples=300, deadline=None)
@given(single_symbol_accounts())
def test_single_symbol_threshold_is_where_the_margin_level_reaches_the_stop_out_level(
    case: tuple[AccountRisk, dict[str, Price], Decimal],
) -> None:
    account, now, stop_out = case
    out = thresholds(account, now, stop_out, cushion=D(0))
    assume(not out.breached)
    s = account.positions[0].spec
    side = account.positions[0].side
    price = now[s.symbol]
    spread = price.ask - price.bid
    # A move of 10x is "never": some losses are bounded (a short USDJPY position loses at most its
    # USD notional), so the level may only approach the stop-out level.
    far = price.bid / 10 if side is Side.BUY else price.ask * 10
    reachable = [
        t for t in out.thresholds if (t.price > far if side is Side.BUY else t.price < far)
    ]
    if not reachable:
        assert level(account, {s.symbol: quote_at(side, far, spread)}) >= stop_out * (
            1 - D("1e-12")
        )
        return
    (t,) = reachable
    assert t.side is side
    past = t.price - s.point if side is Side.BUY else t.price + s.point
    # At the threshold the level is still at or above the stop-out level (within the arithmetic's
    # precision); one point further it is at or below: the threshold is exact to the price grid.
    assert level(account, {s.symbol: quote_at(side, t.price, spread)}) >= stop_out * (
        1 - D("1e-12")
    )
    if past > 0:
        assert level(account, {s.symbol: quote_at(side, past, spread)}) <= stop_out * (
            1 + D("1e-12")
        )


USD_SYMBOLS = [spec("EURUSD", 5), spec("GBPUSD", 5), spec("AUDUSD", 5)]
MIDS = {"EURUSD": D("1.10000"), "GBPUSD": D("1.27000"), "AUDUSD": D("0.66000")}


@st.composite
def multi_symbol_accounts(draw: st.DrawFn) -> tuple[AccountRisk, dict[str, Price], Decimal]:
    now = {}
    for s in USD_SYMBOLS:
        bid = quantize(MIDS[s.symbol] * (1 + D(draw(st.integers(-100, 100))) / 10000), 5)
        now[s.symbol] = Price(bid, bid + s.point * draw(st.integers(0, 30)))
    positions = tuple(
        RiskPosition(
            PositionId(n),
            draw(st.sampled_from(USD_SYMBOLS)),
            draw(st.sampled_from([Side.BUY, Side.SELL])),
            D(draw(st.integers(1, 500))) / 100,
            quantize(D(draw(st.integers(60000, 130000))) / 100000, 5),
        )
        for n in range(draw(st.integers(2, 6)))
    )
    stop_out = D(draw(st.sampled_from([30, 50])))
    probe = AccountRisk(AccountId(1), "USD", D(0), 100, positions)
    pnl, used = raw_equity_and_margin(probe, now)
    balance = quantize(D(draw(st.integers(int(stop_out) + 1, 3000))) / 100 * used - pnl, 2)
    return (
        AccountRisk(AccountId(1), "USD", balance, 100, positions, stop_out_level=stop_out),
        now,
        (stop_out),
    )


@settings(max_examples=200, deadline=None)
@given(multi_symbol_accounts(), st.sampled_from([D(0), D("0.05")]))
def test_every_symbol_at_its_threshold_at_once_never_takes_the_account_below_the_level(
    case: tuple[AccountRisk, dict[str, Price], Decimal], cushion: Decimal
) -> None:
    account, now, stop_out = case
    out = thresholds(account, now, stop_out, cushion=cushion)
    assume(not out.breached)
    worst = dict(now)
    for t in out.thresholds:  # long legs at their bid threshold, short legs at their ask one
        bid, ask = worst[t.symbol].bid, worst[t.symbol].ask
        spread = now[t.symbol].ask - now[t.symbol].bid
        if t.side is Side.BUY:
            bid = t.price
            ask = max(ask - (now[t.symbol].bid - t.price), bid + spread)
        else:
            ask = t.price
            bid = min(bid + (t.price - now[t.symbol].ask), ask - spread)
        worst[t.symbol] = Price(bid, ask)
    # Symbols held on one side move with constant spread; hedged ones widen to both thresholds.
    assert level(account, worst) >= stop_out * (1 - D("1e-12"))
