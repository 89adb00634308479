"""Demo data of the local profile: the catalogue's symbols and the demo client account."""

from __future__ import annotations

import json
import os

from fxmesh import passwords
from fxmesh.db import Conn
from fxmesh.stack.catalogue import DEMO_ACCOUNT, DEMO_SYMBOLS


async def seed(conn: Conn) -> list[str]:
    """Upsert the demo symbols; create the demo account with its deposit once. Idempotent."""
    lines: list[str] = []
    async with conn.transaction():
        for s in DEMO_SYMBOLS:
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
        lines.append(f"oms: {len(DEMO_SYMBOLS)} symbols")

        login = os.environ.get("FXMESH_DEMO_LOGIN", DEMO_ACCOUNT.login)
        password = os.environ.get("FXMESH_DEMO_PASSWORD", "demo1234")
        a = DEMO_ACCOUNT
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
