"""Funds holds over real gRPC against the real oms (PostgreSQL, Redis quotes, the stand-in router):
a withdrawal awaiting approval holds its amount, which no other withdrawal and no order's margin
may use; capturing it books the WITHDRAWAL row once, releasing it books nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import grpc
from oms_helpers import balance_of, ledger_consistent, ledger_rows, order_request, rpc_error

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal
ACTIVE, CAPTURED, RELEASED = (
    oms_pb2.FUNDS_HOLD_STATUS_ACTIVE,
    oms_pb2.FUNDS_HOLD_STATUS_CAPTURED,
    oms_pb2.FUNDS_HOLD_STATUS_RELEASED,
)


def rid() -> str:
    return f"wd-{uuid.uuid4().hex[:12]}"


def hold_request(account_id: int, amount: str, request_id: str, **kw: str) -> Any:
    return oms_pb2.PlaceFundsHoldRequest(
        account_id=str(account_id), amount=amount, request_id=request_id, **kw
    )


async def summary(oms: Any, account_id: int) -> Any:
    return await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )


async def withdraw(
    oms: Any, account_id: int, amount: str, request_id: str | None = None, **kw: str
) -> Any:
    return await oms.stub.PostBalanceOperation(
        oms_pb2.PostBalanceOperationRequest(
            account_id=str(account_id),
            type=types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL,
            amount=amount,
            request_id=request_id or rid(),
            method="BANK_TRANSFER",
            **kw,
        )
    )


async def test_hold_when_placed_then_summary_shows_it_and_neither_withdrawal_nor_order_can_use_it(
    oms: Any, put_quote: Any
) -> None:
    account = await oms.new_account(deposit="2000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")

    placed = await oms.stub.PlaceFundsHold(
        hold_request(account, "1500.00", rid(), method="CRYPTO", reference="tx-1")
    )

    assert (placed.hold.status, placed.hold.amount, placed.replayed) == (ACTIVE, "1500.00", False)
    figures = await summary(oms, account)
    assert (figures.balance, figures.held, figures.free_margin) == ("2000.00", "1500.00", "500.00")
    # The rest of the money is not there twice: neither as a withdrawal nor as another hold.
    err = await rpc_error(withdraw(oms, account, "600.00"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_ENOUGH_FREE_MARGIN")
    assert err.metadata["withdrawable"] == "500.00"
    err = await rpc_error(oms.stub.PlaceFundsHold(hold_request(account, "600.00", rid())))
    assert err.reason == "NOT_ENOUGH_FREE_MARGIN"
    # 1 lot of EURUSD needs about 1084.50 of margin: there without the hold, not with it.
    order = await oms.stub.PlaceOrder(order_request(account, volume="1.00"))
    assert order.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert order.order.reject_reason == "NOT_ENOUGH_MONEY"
    conn = await oms.db()
    try:
        assert await ledger_rows(conn, account) == [("DEPOSIT", D("2000.00"))]
        await ledger_consistent(conn, account)
    finally:
        await conn.close()


async def test_hold_when_captured_then_withdrawal_booked_once_with_its_method_and_hold_gone(
    oms: Any,
) -> None:
    account = await oms.new_account(deposit="2000.00")
    request_id = rid()
    placed = await oms.stub.PlaceFundsHold(
        hold_request(
            account, "1500.00", request_id, method="BANK_TRANSFER", reference="w-9", note="payout"
        )
    )
    capture = oms_pb2.CaptureFundsHoldRequest(account_id=str(account), hold_id=placed.hold.hold_id)

    first = await oms.stub.CaptureFundsHold(capture)
    again = await oms.stub.CaptureFundsHold(capture)

    assert (first.hold.status, first.replayed, again.replayed) == (CAPTURED, False, True)
    assert again.entry == first.entry
    entry = first.entry
    assert entry.type == types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL
    assert (entry.amount, entry.balance_after, entry.method) == (
        "-1500.00",
        "500.00",
        "BANK_TRANSFER",
    )
    assert (entry.reference, entry.note) == ("w-9", "payout")
    assert first.hold.ledger_id == entry.ledger_id
    figures = await summary(oms, account)
    assert (figures.balance, figures.held, figures.free_margin) == ("500.00", "0.00", "500.00")
    err = await rpc_error(
        oms.stub.ReleaseFundsHold(
            oms_pb2.ReleaseFundsHoldRequest(account_id=str(account), hold_id=placed.hold.hold_id)
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "HOLD_NOT_ACTIVE")
    # The ledger row carries the hold's request id: a PostBalanceOperation retry replays it.
    replay = await withdraw(oms, account, "1500.00", request_id, reference="w-9", note="payout")
    assert replay.replayed
    assert replay.entry.ledger_id == entry.ledger_id
    conn = await oms.db()
    try:
        assert await ledger_rows(conn, account) == [
            ("DEPOSIT", D("2000.00")),
            ("WITHDRAWAL", D("-1500.00")),
        ]
        assert await balance_of(conn, account) == D("500.00")
        await ledger_consistent(conn, account)
    finally:
        await conn.close()


async def test_hold_when_released_then_nothing_booked_and_money_free_again(oms: Any) -> None:
    account = await oms.new_account(deposit="1000.00")
    placed = await oms.stub.PlaceFundsHold(hold_request(account, "800.00", rid()))
    ids = {"account_id": str(account), "hold_id": placed.hold.hold_id}

    released = await oms.stub.ReleaseFundsHold(oms_pb2.ReleaseFundsHoldRequest(**ids))
    again = await oms.stub.ReleaseFundsHold(oms_pb2.ReleaseFundsHoldRequest(**ids))

    assert (released.hold.status, released.replayed, again.replayed) == (RELEASED, False, True)
    figures = await summary(oms, account)
    assert (figures.balance, figures.held, figures.free_margin) == ("1000.00", "0.00", "1000.00")
    err = await rpc_error(oms.stub.CaptureFundsHold(oms_pb2.CaptureFundsHoldRequest(**ids)))
    assert err.reason == "HOLD_NOT_ACTIVE"
    booked = await withdraw(oms, account, "1000.00")  # the whole balance is withdrawable again
    assert booked.entry.balance_after == "0.00"
    conn = await oms.db()
    try:
        assert [t for t, _ in await ledger_rows(conn, account)] == ["DEPOSIT", "WITHDRAWAL"]
    finally:
        await conn.close()


async def test_hold_when_request_id_repeated_then_same_hold_or_key_reused(oms: Any) -> None:
    account = await oms.new_account(deposit="1000.00")
    request_id = rid()
    first = await oms.stub.PlaceFundsHold(hold_request(account, "100.00", request_id))
    again = await oms.stub.PlaceFundsHold(hold_request(account, "100.00", request_id))

    assert (again.hold, again.replayed) == (first.hold, True)
    err = await rpc_error(oms.stub.PlaceFundsHold(hold_request(account, "101.00", request_id)))
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    # A balance operation cannot take the hold's request id either (its capture will).
    err = await rpc_error(withdraw(oms, account, "100.00", request_id))
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    assert (await summary(oms, account)).held == "100.00"


async def test_capture_when_losses_ate_the_balance_then_insufficient_balance_and_hold_stays(
    oms: Any,
) -> None:
    account = await oms.new_account(deposit="1000.00")
    placed = await oms.stub.PlaceFundsHold(hold_request(account, "800.00", rid()))
    await oms.stub.PostBalanceOperation(
        oms_pb2.PostBalanceOperationRequest(
            account_id=str(account),
            type=types_pb2.LEDGER_ENTRY_TYPE_ADJUSTMENT,
            amount="-500.00",
            request_id=rid(),
            note="loss",
        )
    )

    err = await rpc_error(
        oms.stub.CaptureFundsHold(
            oms_pb2.CaptureFundsHoldRequest(account_id=str(account), hold_id=placed.hold.hold_id)
        )
    )

    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    figures = await summary(oms, account)
    assert (figures.balance, figures.held) == ("500.00", "800.00")


async def test_hold_when_unknown_or_bad_input_then_clear_codes(oms: Any) -> None:
    account = await oms.new_account(deposit="1000.00")
    other = await oms.new_account(deposit="1000.00")
    placed = await oms.stub.PlaceFundsHold(hold_request(other, "10.00", rid()))

    missing = await rpc_error(
        oms.stub.CaptureFundsHold(
            oms_pb2.CaptureFundsHoldRequest(account_id=str(account), hold_id=placed.hold.hold_id)
        )
    )
    zero = await rpc_error(oms.stub.PlaceFundsHold(hold_request(account, "0", rid())))
    precise = await rpc_error(oms.stub.PlaceFundsHold(hold_request(account, "1.001", rid())))
    no_id = await rpc_error(oms.stub.PlaceFundsHold(hold_request(account, "1", "")))
    bad_id = await rpc_error(
        oms.stub.ReleaseFundsHold(
            oms_pb2.ReleaseFundsHoldRequest(account_id=str(account), hold_id="x1")
        )
    )

    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "HOLD_NOT_FOUND")
    assert (zero.code, zero.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_AMOUNT")
    assert precise.reason == "INVALID_PRECISION"
    assert no_id.reason == "MISSING_FIELD"
    assert bad_id.reason == "INVALID_HOLD_ID"
    assert (await summary(oms, account)).held == "0.00"


async def test_close_account_when_funds_held_then_not_flat(oms: Any) -> None:
    account = await oms.new_account(deposit="1000.00")
    await oms.stub.PlaceFundsHold(hold_request(account, "100.00", rid()))

    err = await rpc_error(
        oms.stub.UpdateAccount(
            oms_pb2.UpdateAccountRequest(
                account_id=str(account),
                status=types_pb2.ACCOUNT_STATUS_CLOSED,
                max_open_positions=-1,
            )
        )
    )

    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_NOT_FLAT")
    assert err.metadata["held"] == "100.00"
