"""Request builders and database checks shared by the oms integration tests."""

from __future__ import annotations

import itertools
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from devstack.catalogue import ALWAYS_OPEN
from fxmesh.errors import FxError, from_rpc_error
from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal
BUY, SELL = types_pb2.SIDE_BUY, types_pb2.SIDE_SELL
TYPES = {
    "MARKET": types_pb2.ORDER_TYPE_MARKET,
    "LIMIT": types_pb2.ORDER_TYPE_LIMIT,
    "STOP": types_pb2.ORDER_TYPE_STOP,
    "STOP_LIMIT": types_pb2.ORDER_TYPE_STOP_LIMIT,
}
TIFS = {
    "GTC": types_pb2.TIME_IN_FORCE_GTC,
    "DAY": types_pb2.TIME_IN_FORCE_DAY,
    "GTD": types_pb2.TIME_IN_FORCE_GTD,
    "IOC": types_pb2.TIME_IN_FORCE_IOC,
    "FOK": types_pb2.TIME_IN_FORCE_FOK,
}


def cid() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def order_request(
    account_id: int,
    type_: str = "MARKET",
    side: int = BUY,
    volume: str = "1.00",
    symbol: str = "EURUSD",
    tif: str | None = None,
    **extra: Any,
) -> oms_pb2.PlaceOrderRequest:
    fields: dict[str, Any] = {
        "account_id": str(account_id),
        "client_order_id": cid(),
        "symbol": symbol,
        "side": side,
        "type": TYPES[type_],
        "volume": volume,
    }
    if tif is not None:
        fields["time_in_force"] = TIFS[tif]
    fields.update(extra)
    return oms_pb2.PlaceOrderRequest(**fields)


def ts(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def rpc_error(call: Any) -> FxError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return from_rpc_error(info.value)


async def ledger_consistent(conn: asyncpg.Connection, account_id: int) -> None:
    """balance == sum(ledger.amount), and each row's balance_after = balance_before + amount."""
    balance = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    total = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM oms.ledger WHERE account_id = $1", account_id
    )
    assert balance == total
    broken = await conn.fetchval(
        "SELECT count(*) FROM oms.ledger WHERE account_id = $1 "
        "AND balance_after <> balance_before + amount",
        account_id,
    )
    assert broken == 0
    chain = await conn.fetch(
        "SELECT balance_before, balance_after FROM oms.ledger WHERE account_id = $1 "
        "ORDER BY ledger_id",
        account_id,
    )
    for before, after in itertools.pairwise(chain):
        assert after["balance_before"] == before["balance_after"]


async def ledger_rows(conn: asyncpg.Connection, account_id: int) -> list[tuple[str, Decimal]]:
    rows = await conn.fetch(
        "SELECT type, amount FROM oms.ledger WHERE account_id = $1 ORDER BY ledger_id", account_id
    )
    return [(r["type"], r["amount"]) for r in rows]


async def events(conn: asyncpg.Connection, account_id: int, kind: str | None = None) -> list[Any]:
    """The account's outbox events (type, data) in order, optionally of one type."""
    rows = await conn.fetch(
        "SELECT event_type, payload FROM oms.outbox WHERE account_id = $1 ORDER BY outbox_id",
        account_id,
    )
    found = []
    for r in rows:
        payload = r["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        if kind is None or r["event_type"] == kind:
            found.append((r["event_type"], payload["data"]))
    return found


async def deals_of(conn: asyncpg.Connection, account_id: int) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT * FROM oms.deals WHERE account_id = $1 ORDER BY deal_id", account_id
        )
    )


async def balance_of(conn: asyncpg.Connection, account_id: int) -> Decimal:
    value: Decimal = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    return value


def sessions_json(sessions: tuple[tuple[int, str, str], ...]) -> str:
    return json.dumps([{"weekday": d, "from": f, "to": t} for d, f, t in sessions])


async def open_all_sessions(conn: asyncpg.Connection) -> None:
    """Every symbol but AUDUSD trades around the clock (the seed gives FX its weekday sessions)."""
    await conn.execute(
        "UPDATE oms.symbols SET trading_sessions = $1::text::jsonb WHERE symbol <> 'AUDUSD'",
        sessions_json(ALWAYS_OPEN),
    )
