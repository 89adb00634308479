"""Withdrawals above the approval threshold through the real admin and the real oms: held, PENDING,
approved by another admin (four eyes) or rejected; each step's ledger row, audit row and figures.
The threshold of these tests is conftest's APPROVAL_ABOVE (1000)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from conftest import APPROVAL_ABOVE, bearer

from fxmesh.v1 import admin_pb2

D = Decimal


def rid() -> str:
    return f"w-{uuid.uuid4().hex[:12]}"


async def withdraw(
    admin: Any, user: str, account: str, amount: str, request_id: str | None = None, **kw: str
) -> Any:
    async with admin.http(await admin.login(user), **{"Idempotency-Key": request_id or rid()}) as h:
        return await h.post(
            "/admin/withdraw",
            json={"accountId": account, "amount": amount, "method": "BANK_TRANSFER", **kw},
        )


async def decide(admin: Any, user: str, withdrawal_id: str, verb: str, **body: str) -> Any:
    async with admin.http(await admin.login(user)) as h:
        return await h.post(f"/admin/withdrawals/{withdrawal_id}/{verb}", json=body or None)


async def figures(admin: Any, account: str) -> dict[str, Any]:
    async with admin.http(await admin.login("helpdesk")) as h:
        response = await h.get(f"/admin/accounts/{account}")
    assert response.status_code == 200, response.text
    account_doc: dict[str, Any] = response.json()["account"]
    return account_doc


async def test_withdrawal_when_at_threshold_then_booked_at_once(admin):
    account = await admin.new_account("5000.00")

    response = await withdraw(admin, "boss", account, f"{APPROVAL_ABOVE}.00")

    assert response.status_code == 200, response.text
    assert response.json()["entry"]["amount"] == "-1000.00"
    assert [r["type"] for r in await admin.ledger(account)] == ["DEPOSIT", "WITHDRAWAL"]


async def test_withdrawal_when_above_threshold_then_pending_and_funds_held(admin):
    account = await admin.new_account("5000.00")
    request_id = rid()

    response = await withdraw(admin, "boss", account, "3000.00", request_id, reference="iban-1")
    again = await withdraw(admin, "boss", account, "3000.00", request_id, reference="iban-1")

    assert response.status_code == 202, response.text
    body = response.json()
    pending = body["withdrawal"]
    assert (body["entry"], body["replayed"]) == (None, False)
    assert (pending["status"], pending["amount"], pending["requestedBy"]) == (
        "PENDING",
        "3000.00",
        "boss",
    )
    assert (pending["method"], pending["reference"]) == ("BANK_TRANSFER", "iban-1")
    assert again.status_code == 202
    assert again.json() == {**body, "replayed": True}
    # Held, not booked: the balance stands, the free margin does not, and the rest is all that
    # may still be withdrawn.
    doc = await figures(admin, account)
    assert (doc["balance"], doc["held"], doc["freeMargin"]) == ("5000.00", "3000.00", "2000.00")
    assert [r["type"] for r in await admin.ledger(account)] == ["DEPOSIT"]
    rest = await withdraw(admin, "boss", account, "2500.00")
    assert (rest.status_code, rest.json()["code"]) == (409, "NOT_ENOUGH_FREE_MARGIN")
    small = await withdraw(admin, "boss", account, "900.00")
    assert small.status_code == 200  # booked at once, from the money not held
    audit = await admin.pool.fetchrow(
        "SELECT * FROM admin.audit_log WHERE request_id = $1 ORDER BY audit_id LIMIT 1", request_id
    )
    assert (audit["action"], audit["outcome"]) == ("money.withdraw", "ALLOWED")
    assert audit["after"]["status"] == "PENDING"
    assert audit["before"]["balance"] == "5000.00"


async def test_approve_when_requester_then_four_eyes_refusal_and_nothing_booked(admin):
    account = await admin.new_account("5000.00")
    pending = (await withdraw(admin, "boss", account, "3000.00")).json()["withdrawal"]

    response = await decide(admin, "boss", pending["withdrawalId"], "approve")

    assert (response.status_code, response.json()["code"]) == (403, "FOUR_EYES_REQUIRED")
    assert [r["type"] for r in await admin.ledger(account)] == ["DEPOSIT"]
    assert (await figures(admin, account))["held"] == "3000.00"
    row = await admin.last_audit("withdrawals.approve")
    assert (row["actor"], row["outcome"], row["error_code"]) == (
        "boss",
        "FAILED",
        "FOUR_EYES_REQUIRED",
    )


async def test_approve_when_another_admin_then_booked_once_with_method_and_hold_gone(admin):
    account = await admin.new_account("5000.00")
    pending = (
        await withdraw(admin, "boss", account, "3000.00", reference="iban-2", note="payout")
    ).json()["withdrawal"]
    wid = pending["withdrawalId"]

    approved = await decide(admin, "root", wid, "approve")
    retried = await decide(admin, "root", wid, "approve")

    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["withdrawal"]["status"] == "APPROVED"
    assert body["withdrawal"]["decidedBy"] == "root"
    assert body["withdrawal"]["ledgerId"] == body["entry"]["ledgerId"]
    assert (body["entry"]["type"], body["entry"]["amount"]) == ("WITHDRAWAL", "-3000.00")
    assert body["entry"]["method"] == "BANK_TRANSFER"
    assert retried.status_code == 200
    assert retried.json() == {**body, "replayed": True}
    ledger = await admin.ledger(account)
    assert [(r["type"], r["amount"], r["method"]) for r in ledger] == [
        ("DEPOSIT", D("5000.00"), None),
        ("WITHDRAWAL", D("-3000.00"), "BANK_TRANSFER"),
    ]
    assert (ledger[-1]["reference"], ledger[-1]["note"]) == ("iban-2", "payout")
    assert ledger[-1]["request_id"] == pending["requestId"]
    doc = await figures(admin, account)
    assert (doc["balance"], doc["held"], doc["freeMargin"]) == ("2000.00", "0.00", "2000.00")
    rows = await admin.audit_rows("withdrawals.approve", "root")
    assert [(r["outcome"], r["after"]["replayed"]) for r in rows[-2:]] == [
        ("ALLOWED", False),
        ("ALLOWED", True),
    ]
    assert rows[-2]["before"]["status"] == "PENDING"
    assert (rows[-2]["before"]["balance"], rows[-2]["before"]["held"]) == ("5000.00", "3000.00")
    assert rows[-2]["after"]["entry"]["amount"] == "-3000.00"
    # Decided: it is not decided again.
    late = await decide(admin, "root", wid, "reject", reason="too late")
    assert (late.status_code, late.json()["code"]) == (409, "WITHDRAWAL_ALREADY_DECIDED")


async def test_reject_when_pending_then_hold_released_no_ledger_row_and_approve_refused(admin):
    account = await admin.new_account("5000.00")
    wid = (await withdraw(admin, "boss", account, "3000.00")).json()["withdrawal"]["withdrawalId"]

    blank = await decide(admin, "root", wid, "reject", reason="  ")
    rejected = await decide(admin, "boss", wid, "reject", reason="KYC documents missing")
    approve = await decide(admin, "root", wid, "approve")

    assert (blank.status_code, blank.json()["code"]) == (400, "MISSING_REASON")
    assert rejected.status_code == 200, rejected.text
    decided = rejected.json()["withdrawal"]
    assert (decided["status"], decided["reason"], decided["decidedBy"]) == (
        "REJECTED",
        "KYC documents missing",
        "boss",
    )
    assert (approve.status_code, approve.json()["code"]) == (409, "WITHDRAWAL_ALREADY_DECIDED")
    assert [r["type"] for r in await admin.ledger(account)] == ["DEPOSIT"]
    doc = await figures(admin, account)
    assert (doc["balance"], doc["held"], doc["freeMargin"]) == ("5000.00", "0.00", "5000.00")
    row = (await admin.audit_rows("withdrawals.reject", "boss"))[-1]
    assert (row["outcome"], row["target"]) == ("ALLOWED", f"withdrawal:{wid}")
    assert (row["before"]["status"], row["after"]["status"]) == ("PENDING", "REJECTED")


async def test_withdrawals_when_unknown_id_or_bad_filter_then_clear_codes(admin):
    missing = await decide(admin, "root", "424242424", "approve")
    bad_id = await decide(admin, "root", "abc", "reject", reason="x")
    async with admin.http(await admin.login("helpdesk")) as h:
        bad_status = await h.get("/admin/withdrawals", params={"status": "MAYBE"})

    assert (missing.status_code, missing.json()["code"]) == (404, "WITHDRAWAL_NOT_FOUND")
    assert (bad_id.status_code, bad_id.json()["code"]) == (400, "INVALID_WITHDRAWAL_ID")
    assert (bad_status.status_code, bad_status.json()["code"]) == (400, "INVALID_STATUS")


async def test_list_when_filtered_by_status_and_account_then_newest_first_in_pages(admin):
    account = await admin.new_account("9000.00")
    ids = [
        (await withdraw(admin, "boss", account, amount)).json()["withdrawal"]["withdrawalId"]
        for amount in ("1500.00", "1600.00", "1700.00")
    ]
    await decide(admin, "root", ids[0], "reject", reason="duplicate")

    async with admin.http(await admin.login("helpdesk")) as h:
        first = await h.get(
            "/admin/withdrawals", params={"status": "PENDING", "accountId": account, "pageSize": 1}
        )
        second = await h.get(
            "/admin/withdrawals",
            params={
                "status": "PENDING",
                "accountId": account,
                "pageSize": 1,
                "pageToken": first.json()["nextPageToken"],
            },
        )
        every = await h.get("/admin/withdrawals", params={"accountId": account})

    assert [w["withdrawalId"] for w in first.json()["withdrawals"]] == [ids[2]]
    assert [w["withdrawalId"] for w in second.json()["withdrawals"]] == [ids[1]]
    assert second.json()["nextPageToken"] is None
    assert [w["status"] for w in every.json()["withdrawals"]] == ["PENDING", "PENDING", "REJECTED"]


async def test_grpc_withdrawals_when_asked_approved_and_listed_then_same_semantics(
    admin, admin_stub
):
    account = await admin.new_account("5000.00")
    boss, root = bearer(await admin.login("boss")), bearer(await admin.login("root"))
    m = admin_pb2

    asked = await admin_stub.Withdraw(
        m.WithdrawRequest(
            account_id=account,
            amount="2500.00",
            method=m.PAYMENT_METHOD_CRYPTO,
            request_id=rid(),
        ),
        metadata=boss,
        timeout=10,
    )
    wid = asked.withdrawal.withdrawal_id
    with pytest.raises(grpc.aio.AioRpcError) as own:
        await admin_stub.ApproveWithdrawal(
            m.ApproveWithdrawalRequest(withdrawal_id=wid), metadata=boss, timeout=10
        )
    listed = await admin_stub.ListWithdrawals(
        m.ListWithdrawalsRequest(status=m.WITHDRAWAL_STATUS_PENDING, account_id=account),
        metadata=root,
        timeout=10,
    )
    approved = await admin_stub.ApproveWithdrawal(
        m.ApproveWithdrawalRequest(withdrawal_id=wid), metadata=root, timeout=10
    )

    assert not asked.HasField("entry")
    assert asked.withdrawal.status == m.WITHDRAWAL_STATUS_PENDING
    assert asked.withdrawal.method == m.PAYMENT_METHOD_CRYPTO
    assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [w.withdrawal_id for w in listed.withdrawals] == [wid]
    assert approved.withdrawal.status == m.WITHDRAWAL_STATUS_APPROVED
    assert (approved.entry.amount, approved.entry.method) == ("-2500.00", "CRYPTO")
    ledger = await admin.ledger(account)
    assert [(r["type"], r["method"]) for r in ledger] == [
        ("DEPOSIT", None),
        ("WITHDRAWAL", "CRYPTO"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await admin_stub.RejectWithdrawal(
            m.RejectWithdrawalRequest(withdrawal_id=wid, reason="late"), metadata=boss, timeout=10
        )
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_approve_when_balance_no_longer_covers_it_then_failed_and_funds_released(admin):
    account = await admin.new_account("5000.00")
    wid = (await withdraw(admin, "boss", account, "3000.00")).json()["withdrawal"]["withdrawalId"]
    async with admin.http(await admin.login("root"), **{"X-Request-Id": rid()}) as h:
        loss = await h.post(
            "/admin/adjust",
            json={"accountId": account, "amount": "-4000.00", "type": "CORRECTION", "reason": "x"},
        )
    assert loss.status_code == 200, loss.text

    response = await decide(admin, "root", wid, "approve")

    assert (response.status_code, response.json()["code"]) == (409, "INSUFFICIENT_BALANCE")
    assert [r["type"] for r in await admin.ledger(account)] == ["DEPOSIT", "ADJUSTMENT"]
    doc = await figures(admin, account)
    assert (doc["balance"], doc["held"]) == ("1000.00", "0.00")
    async with admin.http(await admin.login("helpdesk")) as h:
        listed = await h.get("/admin/withdrawals", params={"accountId": account})
    (failed,) = listed.json()["withdrawals"]
    assert (failed["status"], failed["reason"], failed["decidedBy"]) == (
        "FAILED",
        "INSUFFICIENT_BALANCE",
        "root",
    )
    row = await admin.last_audit("withdrawals.approve")
    assert (row["outcome"], row["error_code"]) == ("FAILED", "INSUFFICIENT_BALANCE")
    assert row["after"]["status"] == "FAILED"
