"""Accounts and money through the real admin and the real oms: each booking's ledger row and
audit row; bad input answered with a clear code, nothing booked, a FAILED audit row."""

from __future__ import annotations

import uuid
from decimal import Decimal

import grpc
import pytest
from conftest import bearer

from fxmesh.v1 import admin_pb2


def rid() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


async def test_deposit_when_json_number_then_booked_as_decimal_with_ledger_and_audit_row(admin):
    account = await admin.new_account("100.00")
    token = await admin.login("boss")
    request_id = rid()
    async with admin.http(token, **{"Idempotency-Key": request_id}) as http:
        first = await http.post(
            "/admin/deposit",
            content=f'{{"accountId": "{account}", "amount": 250.10, "method": "BANK_TRANSFER", '
            '"reference": "wire-77", "note": "top up"}',
            headers={"content-type": "application/json"},
        )
        again = await http.post(
            "/admin/deposit",
            json={
                "accountId": account,
                "amount": "250.10",
                "method": "BANK_TRANSFER",
                "reference": "wire-77",
                "note": "top up",
            },
        )

    assert first.status_code == 200, first.text
    entry = first.json()["entry"]
    assert (entry["amount"], entry["balanceAfter"]) == ("250.10", "350.10")
    assert again.json() == {**first.json(), "replayed": True}
    ledger = await admin.ledger(account)
    assert [r["type"] for r in ledger] == ["DEPOSIT", "DEPOSIT"]
    assert ledger[-1]["amount"] == Decimal("250.10")
    assert ledger[-1]["request_id"] == request_id
    # The ledger keeps the method in its own column; the note stays the operator's text.
    assert (ledger[-1]["method"], ledger[-1]["note"]) == ("BANK_TRANSFER", "top up")
    assert entry["method"] == "BANK_TRANSFER"
    rows = await admin.pool.fetch(
        "SELECT * FROM admin.audit_log WHERE request_id = $1 ORDER BY audit_id", request_id
    )
    row = rows[0]
    assert (row["outcome"], row["actor"], row["role"]) == ("ALLOWED", "boss", "ADMIN")
    assert (row["action"], row["target"]) == ("money.deposit", f"account:{account}")
    assert row["before"]["balance"] == "100.00"
    assert row["after"]["balanceAfter"] == "350.10"
    assert row["after"]["method"] == "BANK_TRANSFER"
    assert [r["after"]["replayed"] for r in rows] == [False, True]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/admin/deposit", {"amount": "0", "method": "CARD"}, 400, "INVALID_AMOUNT"),
        ("/admin/deposit", {"amount": "-5", "method": "CARD"}, 400, "INVALID_AMOUNT"),
        ("/admin/deposit", {"amount": "1.001", "method": "CARD"}, 400, "INVALID_PRECISION"),
        ("/admin/deposit", {"amount": "5"}, 400, "INVALID_METHOD"),
        ("/admin/deposit", {"amount": "5", "method": "CARD", "bogus": 1}, 422, "UNKNOWN_FIELD"),
        ("/admin/withdraw", {"amount": "5000", "method": "CRYPTO"}, 409, "NOT_ENOUGH_FREE_MARGIN"),
        ("/admin/adjust", {"amount": "5", "type": "MANUAL", "reason": " "}, 400, "MISSING_REASON"),
    ],
)
async def test_money_when_bad_input_then_clear_code_nothing_booked_failed_audit_row(
    admin, path, body, status, code
):
    account = await admin.new_account("100.00")
    token = await admin.login("root")
    request_id = rid()
    async with admin.http(token, **{"X-Request-Id": request_id}) as http:
        response = await http.post(path, json={"accountId": account, **body})

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert len(await admin.ledger(account)) == 1  # the initial deposit only
    row = await admin.pool.fetchrow(
        "SELECT * FROM admin.audit_log WHERE request_id = $1", request_id
    )
    assert (row["outcome"], row["error_code"]) == ("FAILED", code)


async def test_money_when_account_unknown_then_404_with_code(admin):
    token = await admin.login("root")
    async with admin.http(token, **{"X-Request-Id": rid()}) as http:
        response = await http.post("/admin/bonus", json={"accountId": "99999999", "amount": "5"})

    assert response.status_code == 404
    assert response.json()["code"] == "ACCOUNT_NOT_FOUND"


async def test_money_when_no_request_id_then_refused(admin):
    account = await admin.new_account()
    async with admin.http(await admin.login("root")) as http:
        response = await http.post(
            "/admin/deposit", json={"accountId": account, "amount": "5", "method": "CARD"}
        )

    assert response.status_code == 400
    assert response.json()["code"] == "MISSING_REQUEST_ID"


async def test_grpc_money_when_each_operation_then_ledger_and_audit_rows(admin, admin_stub):
    account = await admin.new_account("1000.00")
    md = bearer(await admin.login("root"))
    m = admin_pb2
    await admin_stub.Deposit(
        m.DepositRequest(
            account_id=account, amount="100", method=m.PAYMENT_METHOD_CARD, request_id=rid()
        ),
        metadata=md,
        timeout=10,
    )
    await admin_stub.Withdraw(
        m.WithdrawRequest(
            account_id=account, amount="50.25", method=m.PAYMENT_METHOD_CRYPTO, request_id=rid()
        ),
        metadata=md,
        timeout=10,
    )
    await admin_stub.GrantBonus(
        m.GrantBonusRequest(account_id=account, amount="10", request_id=rid()),
        metadata=md,
        timeout=10,
    )
    adjusted = await admin_stub.AdjustBalance(
        m.AdjustBalanceRequest(
            account_id=account,
            amount="-9.75",
            type=m.ADJUSTMENT_TYPE_CORRECTION,
            reason="fee refund reversed",
            request_id=rid(),
        ),
        metadata=md,
        timeout=10,
    )

    ledger = await admin.ledger(account)
    assert [(r["type"], r["amount"]) for r in ledger[1:]] == [
        ("DEPOSIT", Decimal("100")),
        ("WITHDRAWAL", Decimal("-50.25")),
        ("BONUS", Decimal("10")),
        ("ADJUSTMENT", Decimal("-9.75")),
    ]
    assert adjusted.entry.balance_after == "1050.00"
    assert (ledger[-1]["method"], ledger[-1]["note"]) == ("CORRECTION", "fee refund reversed")
    assert adjusted.entry.method == "CORRECTION"
    for action in ("money.deposit", "money.withdraw", "money.bonus", "money.adjust"):
        row = await admin.last_audit(action)
        assert (row["target"], row["outcome"]) == (f"account:{account}", "ALLOWED")


async def test_accounts_when_created_funded_suspended_then_detail_and_audit_follow(admin):
    token = await admin.login("boss")
    login = f"new-{uuid.uuid4().hex[:8]}"
    async with admin.http(token) as http:
        created = await http.post(
            "/admin/accounts",
            json={
                "username": login,
                "password": "s3cret-pass",
                "accountType": "LIVE",
                "currency": "USD",
                "leverage": 200,
                "marginMode": "NETTING",
                "group": "vip",
                "initialDeposit": 500,
            },
        )
        account = created.json()["account"]["accountId"]
        found = await http.get("/admin/accounts", params={"q": login.upper(), "type": "LIVE"})
        detail = await http.get(f"/admin/accounts/{account}")
        zero = await http.put(f"/admin/accounts/{account}/leverage", json={"leverage": 0})
        huge = await http.put(f"/admin/accounts/{account}/leverage", json={"leverage": 10000})
        lev = await http.put(f"/admin/accounts/{account}/leverage", json={"leverage": 50})
        suspended = await http.post(f"/admin/accounts/{account}/suspend", json={"reason": "kyc"})
        twice = await http.post(f"/admin/accounts/{account}/suspend")
        activated = await http.put(f"/admin/accounts/{account}/activate")
        closing = await http.delete(f"/admin/accounts/{account}")
        missing = await http.get("/admin/accounts/424242424")

    assert created.status_code == 201, created.text
    assert created.json()["account"]["clientGroup"] == "vip"
    assert [a["accountId"] for a in found.json()["accounts"]] == [account]
    assert Decimal(detail.json()["account"]["balance"]) == Decimal("500.00")
    assert Decimal(detail.json()["account"]["equity"]) == Decimal("500.00")
    assert detail.json()["positions"] == []
    assert (zero.status_code, zero.json()["code"]) == (400, "INVALID_LEVERAGE")
    assert (huge.status_code, huge.json()["code"]) == (400, "INVALID_LEVERAGE")
    assert lev.json()["account"]["leverage"] == 50
    assert suspended.json()["account"]["status"] == "SUSPENDED"
    assert (twice.status_code, twice.json()["code"]) == (409, "ACCOUNT_ALREADY_SUSPENDED")
    assert activated.json()["account"]["status"] == "ACTIVE"
    assert (closing.status_code, closing.json()["code"]) == (409, "BALANCE_NOT_ZERO")
    assert (missing.status_code, missing.json()["code"]) == (404, "ACCOUNT_NOT_FOUND")
    create_row = await admin.last_audit("accounts.create")
    assert "s3cret-pass" not in str(create_row)
    lev_row = await admin.last_audit("accounts.set_leverage")
    assert (lev_row["before"], lev_row["after"]) == ({"leverage": 200}, {"leverage": 50})
    suspend_row = await admin.last_audit("accounts.suspend")
    assert (suspend_row["outcome"], suspend_row["error_code"]) == (
        "FAILED",
        "ACCOUNT_ALREADY_SUSPENDED",
    )


async def test_account_create_when_retried_with_its_idempotency_key_then_same_account(admin):
    token = await admin.login("boss")
    login = f"idem-{uuid.uuid4().hex[:8]}"
    body = {
        "username": login,
        "password": "s3cret-pass",
        "accountType": "DEMO",
        "currency": "USD",
        "leverage": 100,
        "initialDeposit": "250.00",
    }
    key = {"Idempotency-Key": f"onboard-{login}"}
    async with admin.http(token) as http:
        first = await http.post("/admin/accounts", json=body, headers=key)
        retry = await http.post("/admin/accounts", json=body, headers=key)
        unkeyed = await http.post("/admin/accounts", json=body)

    assert first.status_code in (200, 201), first.text
    assert retry.json()["account"]["accountId"] == first.json()["account"]["accountId"]
    assert (unkeyed.status_code, unkeyed.json()["code"]) == (409, "LOGIN_TAKEN")
    ledger = await admin.ledger(first.json()["account"]["accountId"])
    assert [(r["type"], r["amount"]) for r in ledger] == [("DEPOSIT", Decimal("250.00"))]


async def test_accounts_search_when_email_or_name_given_then_oms_finds_the_client(admin):
    token = await admin.login("boss")
    tag = uuid.uuid4().hex[:8]
    async with admin.http(token) as http:
        created = await http.post(
            "/admin/accounts",
            json={
                "username": f"cli-{tag}",
                "password": "s3cret-pass",
                "accountType": "DEMO",
                "currency": "USD",
                "leverage": 100,
                "email": f"jane.doe.{tag}@broker.test",
                "name": f"Jane Doe {tag}",
            },
        )
        by_email = await http.get("/admin/accounts", params={"q": f"DOE.{tag}@BROKER"})
        by_name = await http.get("/admin/accounts", params={"q": f"jane doe {tag}"})
        no_one = await http.get("/admin/accounts", params={"q": f"nobody-{tag}"})

    account = created.json()["account"]
    assert (account["email"], account["name"]) == (f"jane.doe.{tag}@broker.test", f"Jane Doe {tag}")
    assert [a["accountId"] for a in by_email.json()["accounts"]] == [account["accountId"]]
    assert [a["accountId"] for a in by_name.json()["accounts"]] == [account["accountId"]]
    assert no_one.json()["accounts"] == []


async def test_accounts_list_when_paged_then_tokens_walk_every_match(admin):
    for _ in range(3):
        await admin.new_account()
    async with admin.http(await admin.login("helpdesk")) as http:
        seen, token = [], None
        while True:
            params = {"pageSize": 2, **({"pageToken": token} if token else {})}
            page = (await http.get("/admin/accounts", params=params)).json()
            seen += [a["accountId"] for a in page["accounts"]]
            token = page["nextPageToken"]
            if not token:
                break

    assert len(seen) >= 3
    assert seen == sorted(seen, key=int)
    assert len(set(seen)) == len(seen)


async def test_grpc_accounts_when_get_then_summary_and_positions(admin, admin_stub):
    account = await admin.new_account("42.00")
    md = bearer(await admin.login("helpdesk"))
    reply = await admin_stub.GetClientAccount(
        admin_pb2.GetClientAccountRequest(account_id=account), metadata=md, timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin_stub.SetClientLeverage(
            admin_pb2.SetClientLeverageRequest(account_id=account, leverage=0),
            metadata=bearer(await admin.login("risky")),
            timeout=10,
        )

    assert reply.summary.balance == "42.00"
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
