"""The SQL of auto-hedging: ``router.hedge_orders``, ``router.house_trades`` and the epoch check
(``router.hedging`` has the why). Every write first takes the leader row FOR SHARE and checks the
caller's epoch, in the transaction of the write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bbook import BookFill, Side
from fxmesh.db import Conn
from router.abook import LpFill

# The account id fixgw sees on a hedge order (the house trades for itself).
HEDGE_ACCOUNT = "HOUSE"
HEDGE_PREFIX = "HEDGE-"


class HedgeStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FILLED = "FILLED"
    FENCED = "FENCED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Hedge:
    """One hedge order (``router.hedge_orders``); ``side`` is the house's."""

    hedge_id: int
    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    contract_size: Decimal
    quote_to_usd_rate: Decimal
    status: HedgeStatus
    epoch: int
    attempts: int

    @staticmethod
    def of_row(row: Any) -> Hedge:
        return Hedge(
            hedge_id=row["hedge_id"],
            client_order_id=row["client_order_id"],
            symbol=row["symbol"],
            side=Side(row["side"]),
            volume=row["volume"],
            contract_size=row["contract_size"],
            quote_to_usd_rate=row["quote_to_usd_rate"],
            status=HedgeStatus(row["status"]),
            epoch=row["epoch"],
            attempts=row["attempts"],
        )


def book_fill(
    *,
    trade_id: str,
    hedge_id: int,
    symbol: str,
    side: Side,
    volume: Decimal,
    price: Decimal,
    contract_size: Decimal,
    quote_to_usd_rate: Decimal,
    traded_at: datetime,
) -> BookFill:
    """A house trade as the house book applies it: a fill whose "client" took the other side."""
    return BookFill(
        fill_id=trade_id,
        order_id=f"{HEDGE_PREFIX}{hedge_id}",
        account_id=HEDGE_ACCOUNT,
        symbol=symbol,
        client_side=Side.SELL if side is Side.BUY else Side.BUY,
        volume=volume,
        price=price,
        contract_size=contract_size,
        quote_to_usd_rate=quote_to_usd_rate,
        filled_at=traded_at,
    )


_TRADE_COLUMNS = (
    "trade_id, hedge_id, symbol, side, volume, price, contract_size, quote_to_usd_rate, traded_at"
)


async def house_trades(conn: Conn) -> list[BookFill]:
    """Every house trade in the order it was recorded, as the house book applies it."""
    rows = await conn.fetch(f"SELECT {_TRADE_COLUMNS} FROM router.house_trades ORDER BY seq")
    return [
        book_fill(
            trade_id=r["trade_id"],
            hedge_id=r["hedge_id"],
            symbol=r["symbol"],
            side=Side(r["side"]),
            volume=r["volume"],
            price=r["price"],
            contract_size=r["contract_size"],
            quote_to_usd_rate=r["quote_to_usd_rate"],
            traded_at=r["traded_at"],
        )
        for r in rows
    ]


# The next attempt after a failure: base x 2^(failures so far), at most the cap ($2, $3).
BACKOFF = (
    "now() + make_interval(secs => least($3::float8, $2::float8 * power(2, least(failures, 30))))"
)


async def leading(conn: Conn, epoch: int) -> bool:
    """Whether ``epoch`` is still the leader's; holds the leader row FOR SHARE until commit."""
    current = await conn.fetchval("SELECT epoch FROM router.leader FOR SHARE")
    return bool(current == epoch)


async def open_lots(conn: Conn) -> dict[str, Decimal]:
    """The signed lots (BUY +) of the open hedges (PENDING or SENT) per symbol."""
    rows = await conn.fetch(
        "SELECT symbol, sum(CASE side WHEN 'BUY' THEN volume ELSE -volume END) AS lots "
        "FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT') GROUP BY symbol"
    )
    return {r["symbol"]: r["lots"] for r in rows}


async def due(conn: Conn) -> list[Hedge]:
    """The open hedges whose next attempt is due, oldest first."""
    rows = await conn.fetch(
        "SELECT * FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT') "
        "AND next_attempt_at <= now() ORDER BY hedge_id"
    )
    return [Hedge.of_row(r) for r in rows]


async def open_summary(conn: Conn) -> tuple[int, float]:
    """How many hedges are open, and the age in seconds of the oldest (0 when none)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
        "FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT')"
    )
    assert row is not None  # an aggregate always answers one row
    return int(row["n"]), float(row["age"])


async def create(
    conn: Conn,
    epoch: int,
    *,
    symbol: str,
    side: Side,
    volume: Decimal,
    contract_size: Decimal,
    quote_to_usd_rate: Decimal,
    house_net_lots: Decimal,
    max_net_lots: Decimal,
) -> str | None:
    """A new PENDING hedge; its client order id, or None when ``epoch`` no longer leads."""
    async with conn.transaction():
        if not await leading(conn, epoch):
            return None
        client_order_id: str | None = await conn.fetchval(
            "INSERT INTO router.hedge_orders (symbol, side, volume, contract_size, "
            "quote_to_usd_rate, house_net_lots, max_net_lots, epoch) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING client_order_id",
            symbol,
            side.value,
            volume,
            contract_size,
            quote_to_usd_rate,
            house_net_lots,
            max_net_lots,
            epoch,
        )
        return client_order_id


async def claim_send(conn: Conn, hedge_id: int, epoch: int, resend_after: float) -> Hedge | None:
    """Claim a PENDING hedge SENT under ``epoch`` before it is sent (None: not PENDING any more,
    or ``epoch`` no longer leads); its outcome is asked about after ``resend_after`` seconds."""
    async with conn.transaction():
        if not await leading(conn, epoch):
            return None
        row = await conn.fetchrow(
            "UPDATE router.hedge_orders SET status = 'SENT', attempts = attempts + 1, "
            "epoch = $2, next_attempt_at = now() + make_interval(secs => $3), "
            "updated_at = now() WHERE hedge_id = $1 AND status = 'PENDING' RETURNING *",
            hedge_id,
            epoch,
            resend_after,
        )
    return None if row is None else Hedge.of_row(row)


async def update_sent(
    conn: Conn,
    hedge_id: int,
    epoch: int,
    assignments: str,
    backoff: tuple[float, float],
    *args: object,
) -> int | None:
    """Apply ``assignments`` to a SENT hedge if ``epoch`` leads; its failures after (None when
    nothing changed). Parameters: $2 and $3 the ``backoff`` base and cap (``BACKOFF`` uses them),
    then ``args`` from $4."""
    async with conn.transaction():
        if not await leading(conn, epoch):
            return None
        failures: int | None = await conn.fetchval(
            f"UPDATE router.hedge_orders SET {assignments}, updated_at = now() "
            "WHERE hedge_id = $1 AND status = 'SENT' "
            "AND $2::float8 IS NOT NULL AND $3::float8 IS NOT NULL RETURNING failures",
            hedge_id,
            *backoff,
            *args,
        )
    return failures


async def record_filled(
    conn: Conn, hedge: Hedge, epoch: int, trades: Sequence[tuple[LpFill, BookFill]]
) -> bool:
    """The SENT hedge FILLED with its house trades, in one transaction, if ``epoch`` leads; False
    when another statement settled it first or the epoch is gone."""
    filled = sum((f.volume for f, _ in trades), Decimal(0))
    async with conn.transaction():
        if not await leading(conn, epoch):
            return False
        done = await conn.fetchval(
            "UPDATE router.hedge_orders SET status = 'FILLED', filled_volume = $2, "
            "updated_at = now() WHERE hedge_id = $1 AND status = 'SENT' RETURNING hedge_id",
            hedge.hedge_id,
            filled,
        )
        if done is None:
            return False
        await conn.executemany(
            f"INSERT INTO router.house_trades ({_TRADE_COLUMNS}, lp, lp_order_id, exec_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            [
                (
                    b.fill_id,
                    hedge.hedge_id,
                    hedge.symbol,
                    hedge.side.value,
                    b.volume,
                    b.price,
                    b.contract_size,
                    b.quote_to_usd_rate,
                    b.filled_at,
                    f.lp,
                    f.lp_order_id,
                    f.exec_id,
                )
                for f, b in trades
            ],
        )
    return True


async def cancel(conn: Conn, hedge_id: int, epoch: int) -> bool:
    """Cancel a PENDING hedge (nothing of it is at an LP) if ``epoch`` leads."""
    async with conn.transaction():
        if not await leading(conn, epoch):
            return False
        done = await conn.fetchval(
            "UPDATE router.hedge_orders SET status = 'CANCELLED', updated_at = now() "
            "WHERE hedge_id = $1 AND status = 'PENDING' RETURNING hedge_id",
            hedge_id,
        )
    return done is not None
