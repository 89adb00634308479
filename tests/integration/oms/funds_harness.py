"""Helpers of the money tests: the money RPCs on a real in-process gRPC server, and rows a trade
would have left behind (order, position, deal) written straight into PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_status import rpc_status

from fxmesh.errors import FxError, from_rpc_error
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

_seq = itertools.count(1)

D = Decimal


@dataclass
class FundsApi:
    stub: oms_pb2_grpc.OmsServiceAsyncStub
    pool: Any

    async def create(
        self,
        *,
        currency: str = "USD",
        deposit: str = "10000.00",
        leverage: int = 100,
        netting: bool = False,
    ) -> int:
        """A fresh account through CreateAccount (with its first deposit)."""
        reply = await self.stub.CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=f"funds-{uuid.uuid4().hex[:10]}",
                password="correct-horse",
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency=currency,
                leverage=leverage,
                margin_mode=(
                    types_pb2.MARGIN_MODE_NETTING if netting else types_pb2.MARGIN_MODE_HEDGING
                ),
                initial_deposit=deposit if D(deposit) else "",
            )
        )
        return int(reply.account.account_id)

    async def post(
        self, account_id: int, kind: str, amount: str, request_id: str | None = None, **kw: str
    ) -> oms_pb2.PostBalanceOperationResponse:
        return await self.stub.PostBalanceOperation(
            oms_pb2.PostBalanceOperationRequest(
                account_id=str(account_id),
                type=types_pb2.LedgerEntryType.Value(f"LEDGER_ENTRY_TYPE_{kind}"),
                amount=amount,
                request_id=request_id or f"req-{next(_seq)}",
                **kw,
            )
        )

    async def ledger_sums(self, account_id: int) -> tuple[Decimal, Decimal]:
        """(accounts.balance, sum(ledger.amount)) of an account."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT a.balance, (SELECT coalesce(sum(amount), 0) FROM oms.ledger l "
                "WHERE l.account_id = a.account_id) AS total FROM oms.accounts a "
                "WHERE account_id = $1",
                account_id,
            )
        return row["balance"], row["total"]


async def rpc_error(call: Awaitable[Any]) -> FxError:
    """The FxError (code, reason) a call failed with; fails the test if it succeeded."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
        assert status is not None, "the error carries google.rpc.Status"
        return from_rpc_error(exc)
    pytest.fail("the call succeeded")


async def open_position(
    conn: Any,
    account_id: int,
    symbol: str,
    side: str,
    volume: str,
    price: str,
    *,
    opened_at: datetime | None = None,
) -> int:
    """A filled market order and the position it opened (as the trading core writes them)."""
    order_id = await conn.fetchval(
        "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, time_in_force, "
        "volume, filled_volume, avg_fill_price, status) "
        "VALUES ($1, $2, $3, $4, 'MARKET', 'IOC', $5, $5, $6, 'FILLED') RETURNING order_id",
        account_id,
        f"test-{uuid.uuid4().hex[:12]}",
        symbol,
        side,
        D(volume),
        D(price),
    )
    position_id: int = await conn.fetchval(
        "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, open_order_id, "
        "opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING position_id",
        account_id,
        symbol,
        side,
        D(volume),
        D(price),
        order_id,
        opened_at or datetime.now(UTC),
    )
    return position_id


async def add_deal(
    conn: Any,
    account_id: int,
    position_id: int,
    symbol: str,
    side: str,
    volume: str,
    price: str,
    deal_time: datetime,
    *,
    entry: str = "IN",
) -> int:
    order_id = await conn.fetchval(
        "SELECT open_order_id FROM oms.positions WHERE position_id = $1", position_id
    )
    deal_id: int = await conn.fetchval(
        "INSERT INTO oms.deals (order_id, position_id, account_id, symbol, side, entry, volume, "
        "price, venue, book, fill_id, deal_time) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'BBOOK', 'B', $9, $10) RETURNING deal_id",
        order_id,
        position_id,
        account_id,
        symbol,
        side,
        entry,
        D(volume),
        D(price),
        f"F-{uuid.uuid4().hex}",
        deal_time,
    )
    return deal_id


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


QuoteWriter = Callable[[str, str, str], Awaitable[None]]
