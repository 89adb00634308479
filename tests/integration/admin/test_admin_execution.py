"""The execution pages against real admin, real oms and router's own configuration code on the
test database: execution mode (global and per symbol), client overrides, group routing rules,
routing thresholds and the A/B/C book split; before / after in the audit log; bad input and
unknown ids answered with codes. Tests that change the global mode restore it in ``finally``;
everything else uses symbols, groups and accounts of its own."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from conftest import bearer

from admin.domain import Role
from fxmesh.v1 import admin_execution_pb2, router_pb2, types_pb2

D = Decimal


def sym() -> str:
    return "TX" + uuid.uuid4().hex[:6].upper()


def grp() -> str:
    return f"xg-{uuid.uuid4().hex[:8]}"


async def risk(admin: Any) -> Any:
    return admin.http(await admin.token_of(Role.RISK_MANAGER))


async def test_global_mode_when_set_to_a_then_rule_exists_and_b_removes_it(admin: Any) -> None:
    async with await risk(admin) as http:
        before = (await http.get("/admin/execution-mode")).json()
        try:
            set_a = await http.post("/admin/execution-mode", json={"mode": "A"})
            rows_a = await admin.pool.fetch(
                "SELECT book, client_group, symbol FROM router.routing_rules "
                "WHERE reason = 'EXECUTION_MODE_GLOBAL'"
            )
        finally:
            set_b = await http.post("/admin/execution-mode", json={"mode": before["mode"]})
        rows_b = await admin.pool.fetchval(
            "SELECT count(*) FROM router.routing_rules WHERE reason = 'EXECUTION_MODE_GLOBAL'"
        )

    assert before["mode"] == "B"
    assert set_a.status_code == 200, set_a.text
    assert set_a.json()["mode"] == "A"
    assert set_a.json()["configVersion"] > before["configVersion"]
    assert [tuple(r) for r in rows_a] == [("A", None, None)]
    assert set_b.json()["mode"] == "B"
    assert rows_b == 0
    row = await admin.last_audit("execution.mode_set")
    assert row["outcome"] == "ALLOWED"
    assert row["target"] == "execution_mode:*"


async def test_symbol_mode_when_set_then_listed_with_its_threshold_fallback_and_lps(
    admin: Any,
) -> None:
    s = sym()
    body = {
        "symbol": s,
        "mode": "C",
        "hedgeRatio": "0.4",
        "maxVolume": 5,
        "overLimit": "A",
        "priorityLps": ["LP2", "LPSIM"],
        "fallbackMode": "B",
    }
    async with await risk(admin) as http:
        response = await http.post("/admin/execution-mode", json=body)
        listed = (await http.get("/admin/execution-mode")).json()
        removed = await http.delete(f"/admin/execution-mode/symbols/{s}")
        again = await http.delete(f"/admin/execution-mode/symbols/{s}")

    assert response.status_code == 200, response.text
    [mine] = [m for m in listed["symbols"] if m["symbol"] == s]
    assert mine == {
        "symbol": s,
        "mode": "C",
        "hedgeRatio": "0.4",
        "maxVolume": "5",
        "overLimit": "A",
        "fallbackMode": "B",
        "priorityLps": ["LP2", "LPSIM"],
    }
    audit = await admin.last_audit("execution.mode_set")
    assert audit["before"]["symbol"] is None
    assert audit["after"]["symbol"]["priorityLps"] == ["LP2", "LPSIM"]
    assert removed.status_code == 200
    assert not [m for m in removed.json()["symbols"] if m["symbol"] == s]
    assert (again.status_code, again.json()["code"]) == (404, "SYMBOL_RULE_NOT_FOUND")
    leftovers = await admin.pool.fetchval(
        "SELECT count(*) FROM router.bbook_volume_limits WHERE symbol = $1", s
    )
    assert leftovers == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"mode": "X"}, 400, "INVALID_BOOK"),
        ({"mode": "C", "hedgeRatio": "1.5", "symbol": "TXBAD1"}, 400, "INVALID_HEDGE_RATIO"),
        ({"mode": "A", "maxVolume": "3"}, 400, "SYMBOL_REQUIRED"),
        ({"mode": "A", "symbol": "TXBAD2", "maxVolume": "-1"}, 400, "INVALID_DECIMAL"),
        ({"mode": "A", "symbol": "TXBAD3", "fallbackMode": "MAYBE"}, 400, "INVALID_FALLBACK_MODE"),
        ({"mode": "A", "colour": "red"}, 422, "UNKNOWN_FIELD"),
    ],
)
async def test_execution_mode_when_input_is_bad_then_4xx_with_code_and_nothing_changes(
    admin: Any, body: dict[str, Any], status: int, code: str
) -> None:
    version = await admin.pool.fetchval("SELECT max(version) FROM router.config_versions")
    async with await risk(admin) as http:
        response = await http.post("/admin/execution-mode", json=body)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await admin.pool.fetchval("SELECT max(version) FROM router.config_versions") == version
    row = await admin.last_audit("execution.mode_set")
    assert (row["outcome"], row["error_code"]) == ("FAILED", code)


async def test_client_override_when_forced_then_listed_audited_and_removable(admin: Any) -> None:
    account = await admin.new_account()
    async with await risk(admin) as http:
        created = await http.post(
            "/admin/client-overrides", json={"accountId": account, "mode": "A"}
        )
        listed = (await http.get("/admin/client-overrides")).json()
        deleted = await http.delete(f"/admin/client-overrides/{account}")
        again = await http.delete(f"/admin/client-overrides/{account}")

    assert created.status_code == 200, created.text
    assert created.json()["override"] == {
        "accountId": account,
        "mode": "A",
        "hedgeRatio": "0",
        "reason": "ADMIN_A_BOOK",
        "enabled": True,
    }
    assert any(o["accountId"] == account for o in listed["overrides"])
    set_row = (await admin.audit_rows("execution.override_set", "risky"))[-1]
    assert set_row["target"] == f"account:{account}"
    assert set_row["before"] is None
    assert set_row["after"]["mode"] == "A"
    assert deleted.status_code == 200
    delete_row = (await admin.audit_rows("execution.override_delete", "risky"))[-2]
    assert delete_row["before"]["mode"] == "A"
    assert (again.status_code, again.json()["code"]) == (404, "OVERRIDE_NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"accountId": "987654321", "mode": "A"}, 404, "ACCOUNT_NOT_FOUND"),
        ({"accountId": "12x", "mode": "A"}, 400, "INVALID_ACCOUNT_ID"),
        ({"accountId": "1", "mode": "D"}, 400, "INVALID_BOOK"),
        ({"accountId": "1", "mode": "A", "reason": "lower case"}, 400, "INVALID_REASON"),
    ],
)
async def test_client_override_when_input_is_bad_then_4xx_and_failed_audit_row(
    admin: Any, body: dict[str, Any], status: int, code: str
) -> None:
    async with await risk(admin) as http:
        response = await http.post("/admin/client-overrides", json=body)

    assert (response.status_code, response.json()["code"]) == (status, code)
    row = await admin.last_audit("execution.override_set")
    assert (row["outcome"], row["error_code"]) == ("FAILED", code)


async def test_routing_rules_when_created_updated_deleted_then_versioned_and_audited(
    admin: Any,
) -> None:
    group, symbol = grp(), sym()
    async with await risk(admin) as http:
        created = await http.post(
            "/admin/routing-rules",
            json={"clientGroup": group, "symbol": symbol, "mode": "C", "hedgeRatio": "0.5"},
        )
        rule = created.json()["rule"]
        listed = (await http.get("/admin/routing-rules")).json()
        stale = await http.put(
            f"/admin/routing-rules/{rule['id']}",
            json={"clientGroup": group, "mode": "A", "expectedVersion": 1},
        )
        updated = await http.put(
            f"/admin/routing-rules/{rule['id']}",
            json={
                "clientGroup": group,
                "mode": "A",
                "priority": 7,
                "expectedVersion": listed["configVersion"],
            },
        )
        deleted = await http.delete(f"/admin/routing-rules/{rule['id']}")
        missing = await http.delete(f"/admin/routing-rules/{rule['id']}")

    assert created.status_code == 201, created.text
    assert (rule["clientGroup"], rule["symbol"], rule["mode"], rule["reason"]) == (
        group,
        symbol,
        "C",
        "GROUP_C_BOOK",
    )
    assert any(r["id"] == rule["id"] for r in listed["rules"])
    assert not any(r["reason"].startswith("EXECUTION_MODE_") for r in listed["rules"])
    assert (stale.status_code, stale.json()["code"]) == (409, "CONFIG_VERSION_CHANGED")
    assert updated.status_code == 200, updated.text
    assert (updated.json()["rule"]["mode"], updated.json()["rule"]["priority"]) == ("A", 7)
    assert updated.json()["configVersion"] > listed["configVersion"]
    row = (await admin.audit_rows("routing.rule_update", "risky"))[-1]
    assert (row["before"]["mode"], row["after"]["mode"]) == ("C", "A")
    assert deleted.status_code == 200
    assert (missing.status_code, missing.json()["code"]) == (404, "RULE_NOT_FOUND")


async def test_routing_thresholds_when_set_then_listed_and_null_removes(admin: Any) -> None:
    s, group = sym(), grp()
    async with await risk(admin) as http:
        set_ = await http.put(
            "/admin/routing-thresholds",
            json={
                "volumeLimits": [{"clientGroup": group, "symbol": s, "maxVolume": "2.5"}],
                "exposureLimits": [{"symbol": s, "maxNetVolume": 40}],
            },
        )
        got = (await http.get("/admin/routing-thresholds")).json()
        cleared = await http.put(
            "/admin/routing-thresholds",
            json={
                "volumeLimits": [{"clientGroup": group, "symbol": s, "maxVolume": None}],
                "exposureLimits": [{"symbol": s, "maxNetVolume": None}],
            },
        )

    assert set_.status_code == 200, set_.text
    assert {
        "clientGroup": group,
        "symbol": s,
        "maxVolume": "2.5",
        "overLimit": "SPLIT",
    } in got["volumeLimits"]
    assert {"symbol": s, "maxNetVolume": "40"} in got["exposureLimits"]
    assert cleared.status_code == 200
    assert not [e for e in cleared.json()["exposureLimits"] if e["symbol"] == s]
    assert not [v for v in cleared.json()["volumeLimits"] if v["symbol"] == s]
    row = (await admin.audit_rows("routing.thresholds_set", "risky"))[-1]
    assert {"symbol": s, "maxNetVolume": "40"} in row["before"]["exposureLimits"]


async def _deal(
    admin: Any, account: str, book: str, venue: str, deal_book: str, volume: str, pnl: str
) -> None:
    order_id = await admin.pool.fetchval(
        "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, time_in_force, "
        "volume, filled_volume, avg_fill_price, status, book, created_at) "
        "VALUES ($1, $2, 'EURUSD', 'BUY', 'MARKET', 'IOC', $3, $3, 1.1, 'FILLED', $4, "
        "'2001-02-03T10:00:00Z') RETURNING order_id",
        int(account),
        uuid.uuid4().hex[:16],
        D(volume),
        book,
    )
    await admin.pool.execute(
        "INSERT INTO oms.deals (order_id, account_id, symbol, side, entry, volume, price, "
        "realized_pnl, venue, book, fill_id, deal_time) VALUES ($1, $2, 'EURUSD', 'BUY', 'OUT', "
        "$3, 1.1, $4, $5, $6, $7, '2001-02-03T10:00:00Z')",
        order_id,
        int(account),
        D(volume),
        D(pnl),
        venue,
        deal_book,
        uuid.uuid4().hex,
    )


async def test_book_split_when_period_has_a_b_and_c_deals_then_split_by_order_book(
    admin: Any,
) -> None:
    account = await admin.new_account()
    await admin.pool.execute(  # admin's test database has no catalogue: the deals need a symbol
        "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
        "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
        "commission_currency) VALUES ('EURUSD', 'Euro', 'FX', 'EUR', 'USD', 5, 100000, 0.01, 50, "
        "0.01, 'USD') ON CONFLICT DO NOTHING"
    )
    await _deal(admin, account, "A", "LPSIM", "A", "1.00", "10")
    await _deal(admin, account, "B", "BBOOK", "B", "2.00", "-4")
    await _deal(admin, account, "C", "LPSIM", "A", "0.50", "1")
    await _deal(admin, account, "C", "BBOOK", "B", "0.50", "1")
    period = {"from": "2001-02-03T00:00:00Z", "to": "2001-02-04T00:00:00Z"}

    async with admin.http(await admin.token_of(Role.SUPPORT)) as http:
        report = await http.get("/admin/risk/book-split", params=period)
        backwards = await http.get(
            "/admin/risk/book-split", params={"from": period["to"], "to": period["from"]}
        )

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["totalVolume"] == "4.00"
    books = {b["book"]: b for b in body["books"]}
    assert (books["A"]["volume"], books["A"]["volumePercent"], books["A"]["clientNet"]) == (
        "1.00",
        "25.00",
        "10",
    )
    assert (books["B"]["volume"], books["B"]["clientNet"]) == ("2.00", "-4")
    assert [(v["venue"], v["book"], v["volume"]) for v in books["C"]["venues"]] == [
        ("BBOOK", "B", "0.50"),
        ("LPSIM", "A", "0.50"),
    ]
    assert (backwards.status_code, backwards.json()["code"]) == (400, "INVALID_TIME_RANGE")


async def test_grpc_client_override_when_set_listed_and_deleted_then_same_as_rest(
    admin: Any, admin_stub: Any
) -> None:
    account = await admin.new_account()
    meta = bearer(await admin.token_of(Role.ADMIN))
    x = admin_execution_pb2

    created = await admin_stub.SetClientOverride(
        x.SetClientOverrideRequest(
            override=router_pb2.AccountOverrideConfig(
                account_id=account, book=types_pb2.BOOK_C, hedge_ratio="0.25", enabled=True
            ),
            request_id=f"g-{uuid.uuid4().hex[:8]}",
        ),
        metadata=meta,
        timeout=10,
    )
    listed = await admin_stub.ListClientOverrides(
        x.ListClientOverridesRequest(), metadata=meta, timeout=10
    )
    deleted = await admin_stub.DeleteClientOverride(
        x.DeleteClientOverrideRequest(account_id=account), metadata=meta, timeout=10
    )

    assert (created.override.book, created.override.hedge_ratio) == (types_pb2.BOOK_C, "0.25")
    assert any(o.account_id == account for o in listed.overrides)
    assert deleted.config_version > created.config_version
