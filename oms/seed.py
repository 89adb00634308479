"""oms's seed: symbols and one funded client account for a development stack.

The values are the caller's (the dev stack passes its demo catalogue, ``devstack/catalogue.py``):
oms owns the tables, not the demo data. ``SeedSymbol`` and ``SeedAccount`` say what is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from fxmesh import passwords
from fxmesh.db import Conn


class SeedSymbol(Protocol):
    """A symbol's contract specification, as the seed writes it to ``oms.symbols``.

    ``sessions`` are (ISO weekday, "HH:MM" from, "HH:MM" to) trading windows in UTC.
    """

    @property
    def symbol(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def asset_class(self) -> str: ...
    @property
    def base_currency(self) -> str: ...
    @property
    def quote_currency(self) -> str: ...
    @property
    def digits(self) -> int: ...
    @property
    def contract_size(self) -> Decimal: ...
    @property
    def volume_min(self) -> Decimal: ...
    @property
    def volume_max(self) -> Decimal: ...
    @property
    def volume_step(self) -> Decimal: ...
    @property
    def stops_level_points(self) -> int: ...
    @property
    def margin_percent(self) -> Decimal: ...
    @property
    def commission_per_lot(self) -> Decimal: ...
    @property
    def commission_currency(self) -> str: ...
    @property
    def swap_long_points(self) -> Decimal: ...
    @property
    def swap_short_points(self) -> Decimal: ...
    @property
    def swap_triple_weekday(self) -> int: ...
    @property
    def sessions(self) -> tuple[tuple[int, str, str], ...]: ...
    @property
    def default_deviation_points(self) -> int: ...


class SeedAccount(Protocol):
    """The client account the seed creates (FXMESH_DEMO_LOGIN / FXMESH_DEMO_PASSWORD win)."""

    @property
    def login(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def leverage(self) -> int: ...
    @property
    def margin_mode(self) -> str: ...
    @property
    def account_type(self) -> str: ...
    @property
    def client_group(self) -> str: ...
    @property
    def initial_deposit(self) -> Decimal: ...


async def seed(conn: Conn, symbols: Sequence[SeedSymbol], account: SeedAccount) -> list[str]:
    """Upsert ``symbols``; create ``account`` with its deposit once. Idempotent."""
    lines: list[str] = []
    async with conn.transaction():
        for s in symbols:
            await conn.execute(
                """
                INSERT INTO oms.symbols (symbol, description, asset_class, base_currency,
                    quote_currency, digits, contract_size, volume_min, volume_max, volume_step,
                    stops_level_points, margin_percent, commission_per_lot, commission_currency,
                    swap_long_points, swap_short_points, swap_triple_weekday, trading_sessions,
                    default_deviation_points, enabled)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18::text::jsonb, $19, true)
                ON CONFLICT (symbol) DO UPDATE SET
                    description = EXCLUDED.description, asset_class = EXCLUDED.asset_class,
                    base_currency = EXCLUDED.base_currency,
                    quote_currency = EXCLUDED.quote_currency, digits = EXCLUDED.digits,
                    contract_size = EXCLUDED.contract_size, volume_min = EXCLUDED.volume_min,
                    volume_max = EXCLUDED.volume_max, volume_step = EXCLUDED.volume_step,
                    stops_level_points = EXCLUDED.stops_level_points,
                    margin_percent = EXCLUDED.margin_percent,
                    commission_per_lot = EXCLUDED.commission_per_lot,
                    commission_currency = EXCLUDED.commission_currency,
                    swap_long_points = EXCLUDED.swap_long_points,
                    swap_short_points = EXCLUDED.swap_short_points,
                    swap_triple_weekday = EXCLUDED.swap_triple_weekday,
                    trading_sessions = EXCLUDED.trading_sessions,
                    default_deviation_points = EXCLUDED.default_deviation_points,
                    updated_at = now()
                """,
                s.symbol,
                s.description,
                s.asset_class,
                s.base_currency,
                s.quote_currency,
                s.digits,
                s.contract_size,
                s.volume_min,
                s.volume_max,
                s.volume_step,
                s.stops_level_points,
                s.margin_percent,
                s.commission_per_lot,
                s.commission_currency,
                s.swap_long_points,
                s.swap_short_points,
                s.swap_triple_weekday,
                _sessions_json(s.sessions),
                s.default_deviation_points,
            )
        lines.append(f"oms: {len(symbols)} symbols")

        login = os.environ.get("FXMESH_DEMO_LOGIN", account.login)
        password = os.environ.get("FXMESH_DEMO_PASSWORD", account.password)
        a = account
        account_id = await conn.fetchval(
            """
            INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, margin_mode,
                status, client_group)
            VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7)
            ON CONFLICT (login) DO NOTHING RETURNING account_id
            """,
            login,
            passwords.hash_password(password),
            a.account_type,
            a.currency,
            a.leverage,
            a.margin_mode,
            a.client_group,
        )
        if account_id is not None:  # new account: fund it through the ledger
            after = await conn.fetchval(
                "UPDATE oms.accounts SET balance = balance + $2 WHERE account_id = $1 "
                "RETURNING balance",
                account_id,
                a.initial_deposit,
            )
            await conn.execute(
                "INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, "
                "currency, reference, note) VALUES ($1, 'DEPOSIT', $2, $3, $4, $5, 'seed', "
                "'demo initial deposit')",
                account_id,
                a.initial_deposit,
                after - a.initial_deposit,
                after,
                a.currency,
            )
        else:
            account_id = await conn.fetchval(
                "SELECT account_id FROM oms.accounts WHERE login = $1", login
            )
    lines.append(f"demo client: login {login} / password {password} (account {account_id})")
    return lines


def _sessions_json(sessions: tuple[tuple[int, str, str], ...]) -> str:
    return json.dumps([{"weekday": d, "from": f, "to": t} for d, f, t in sessions])
