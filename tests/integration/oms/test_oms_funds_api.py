"""Balance operations, account administration, listings, statements and risk tools over real gRPC,
against the real database and Redis quotes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import grpc
import pytest
import redis.asyncio as aioredis
from funds_harness import FundsApi, QuoteWriter, add_deal, open_position, rpc_error, ts

from fxmesh import passwords
from fxmesh.db import create_pool
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2
from oms.api.servicer import OmsServicer
from oms.trading.service import OmsService
from oms.trading.unit_of_work import Router

D = Decimal
DEPOSIT = types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT


@pytest.fixture(scope="module")
async def api(oms_dsn: str, redis_url: str) -> AsyncIterator[FundsApi]:
    """OmsService's money RPCs on 127.0.0.1:0 (the trading RPCs are not used here)."""
    pool = await create_pool(oms_dsn, "oms-funds-test")
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    servicer = OmsServicer(OmsService(pool, redis, cast(Router, None), symbols_cache_seconds=0))
    server = GrpcServer("oms", "127.0.0.1:0")
    server.add(oms_pb2_grpc.add_OmsServiceServicer_to_server, servicer, "fxmesh.v1.OmsService")
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield FundsApi(oms_pb2_grpc.OmsServiceStub(channel), pool)
    finally:
        await channel.close()
        await server.stop(0)
        await redis.aclose()
        await pool.close()


@pytest.fixture
async def eurusd(put_quote: QuoteWriter) -> None:
    await put_quote("EURUSD", "1.08500", "1.08520")
    await put_quote("USDJPY", "151.490", "151.510")


# --- balance operations ----------------------------------------------------------------------


async def test_deposit_when_retried_with_same_request_id_then_booked_once(api: FundsApi) -> None:
    account = await api.create(deposit="100.00")
    first = await api.post(account, "DEPOSIT", "50.25", "pay-1", reference="PSP-77")
    again = await api.post(account, "DEPOSIT", "50.25", "pay-1", reference="PSP-77")
    assert not first.replayed
    assert again.replayed
    assert again.entry == first.entry
    assert (first.entry.balance_before, first.entry.balance_after) == ("100.00", "150.25")
    assert first.entry.reference == "PSP-77"
    assert await api.ledger_sums(account) == (D("150.25"), D("150.25"))


async def test_same_request_id_when_content_differs_then_idempotency_key_reused(
    api: FundsApi,
) -> None:
    account = await api.create()
    await api.post(account, "DEPOSIT", "10", "dup")
    err = await rpc_error(api.post(account, "DEPOSIT", "11", "dup"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    err = await rpc_error(api.post(account, "BONUS", "10", "dup"))
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_deposit_method_when_given_then_kept_on_the_ledger_row_and_listed(
    api: FundsApi,
) -> None:
    account = await api.create()
    card = await api.post(account, "DEPOSIT", "20", "card-1", method="card", note="top up")
    plain = await api.post(account, "DEPOSIT", "5", "plain-1")
    listed = await api.stub.ListLedger(oms_pb2.ListLedgerRequest(account_id=str(account)))

    assert (card.entry.method, card.entry.note) == ("CARD", "top up")
    assert plain.entry.method == ""
    assert {e.ledger_id: e.method for e in listed.entries}[card.entry.ledger_id] == "CARD"
    # A retry must say the same method; a malformed one is refused and nothing is booked.
    err = await rpc_error(api.post(account, "DEPOSIT", "20", "card-1", method="CRYPTO"))
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    bad = await rpc_error(api.post(account, "DEPOSIT", "1", "bad-1", method="bank transfer!"))
    assert (bad.code, bad.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_METHOD")
    assert await api.ledger_sums(account) == (D("10025.00"), D("10025.00"))  # + the opening 10 000


async def test_request_id_when_used_on_another_account_then_independent(api: FundsApi) -> None:
    a, b = await api.create(), await api.create()
    await api.post(a, "DEPOSIT", "10", "shared-key")
    reply = await api.post(b, "DEPOSIT", "20", "shared-key")
    assert not reply.replayed


@pytest.mark.parametrize(
    ("currency", "amount"), [("USD", "10.001"), ("JPY", "100.5"), ("EUR", "0.125")]
)
async def test_amount_when_finer_than_currency_minor_unit_then_invalid_precision(
    api: FundsApi, currency: str, amount: str
) -> None:
    account = await api.create(currency=currency, deposit="1000")
    err = await rpc_error(api.post(account, "DEPOSIT", amount))
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PRECISION")
    assert await api.ledger_sums(account) == (D("1000"), D("1000"))


async def test_jpy_account_when_whole_yen_deposit_then_booked(api: FundsApi) -> None:
    account = await api.create(currency="JPY", deposit="150000")
    reply = await api.post(account, "DEPOSIT", "2500")
    assert reply.entry.balance_after == "152500"
    assert reply.entry.currency == "JPY"


async def test_withdrawal_when_within_free_margin_then_booked_negative(
    api: FundsApi, eurusd: None
) -> None:
    account = await api.create(deposit="1000.00")
    reply = await api.post(account, "WITHDRAWAL", "400.00", note="to bank")
    assert reply.entry.type == types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL
    assert reply.entry.amount == "-400.00"
    assert reply.entry.balance_after == "600.00"


async def test_withdrawal_when_above_free_margin_then_refused_and_nothing_booked(
    api: FundsApi, eurusd: None
) -> None:
    """Balance 2000, BUY 1 EURUSD @1.08450 marked at the bid 1.08500 (+50): equity 2050, margin
    1084.50, free margin 965.50. 965.50 may leave, 965.51 may not."""
    account = await api.create(deposit="2000.00")
    async with api.pool.acquire() as conn:
        await open_position(conn, account, "EURUSD", "BUY", "1", "1.08450")
    err = await rpc_error(api.post(account, "WITHDRAWAL", "965.51"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_ENOUGH_FREE_MARGIN")
    assert err.metadata["withdrawable"] == "965.50"
    assert await api.ledger_sums(account) == (D("2000.00"), D("2000.00"))
    reply = await api.post(account, "WITHDRAWAL", "965.50")
    assert reply.entry.balance_after == "1034.50"


async def test_withdrawal_when_floating_profit_exceeds_balance_then_only_balance_leaves(
    api: FundsApi, eurusd: None
) -> None:
    """Balance 100, BUY 0.01 @1.00000 marked at 1.08500: +85 floating, margin 2 (leverage 500),
    free margin 183. Floating profit is not cash: at most the balance, 100.00, may leave."""
    account = await api.create(deposit="100.00", leverage=500)
    async with api.pool.acquire() as conn:
        await open_position(conn, account, "EURUSD", "BUY", "0.01", "1.00000")
    err = await rpc_error(api.post(account, "WITHDRAWAL", "100.01"))
    assert err.metadata["withdrawable"] == "100.00"


async def test_withdrawal_when_open_position_has_no_quote_then_no_quote(
    api: FundsApi, redis_client: aioredis.Redis
) -> None:
    account = await api.create(deposit="5000")
    async with api.pool.acquire() as conn:
        await open_position(conn, account, "GBPUSD", "SELL", "0.10", "1.26500")
    err = await rpc_error(api.post(account, "WITHDRAWAL", "1"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_QUOTE")


async def test_adjustment_and_bonus_when_posted_then_signed_amounts_add_up(api: FundsApi) -> None:
    account = await api.create(deposit="10.00")
    await api.post(account, "BONUS", "5.00")
    reply = await api.post(account, "ADJUSTMENT", "-25.00", note="chargeback")
    assert reply.entry.balance_after == "-10.00"
    assert await api.ledger_sums(account) == (D("-10.00"), D("-10.00"))


async def test_balance_operation_when_account_closed_then_refused(api: FundsApi) -> None:
    account = await api.create(deposit="0")
    await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(
            account_id=str(account), status=types_pb2.ACCOUNT_STATUS_CLOSED
        )
    )
    err = await rpc_error(api.post(account, "DEPOSIT", "10"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_CLOSED")


async def test_balance_operation_when_account_unknown_then_not_found(api: FundsApi) -> None:
    err = await rpc_error(api.post(987654321, "DEPOSIT", "10"))
    assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND")


async def test_deposit_when_booked_then_account_update_event_in_outbox(api: FundsApi) -> None:
    account = await api.create(deposit="0")
    await api.post(account, "DEPOSIT", "42.00")
    async with api.pool.acquire() as conn:
        payload = await conn.fetchval(
            "SELECT payload FROM oms.outbox WHERE account_id = $1 AND event_type = "
            "'account_update' ORDER BY outbox_id DESC LIMIT 1",
            account,
        )
    data = payload["data"]
    assert (data["balance"], data["equity"], data["reason"]) == ("42.00", "42.00", "DEPOSIT")


async def test_concurrent_deposits_when_same_request_id_then_one_entry(api: FundsApi) -> None:
    account = await api.create(deposit="0")
    replies = await asyncio.gather(
        *(api.post(account, "DEPOSIT", "7.00", "race") for _ in range(5))
    )
    assert sum(not r.replayed for r in replies) == 1
    assert {r.entry.ledger_id for r in replies} == {replies[0].entry.ledger_id}
    assert await api.ledger_sums(account) == (D("7.00"), D("7.00"))


# --- accounts --------------------------------------------------------------------------------


async def test_create_account_when_initial_deposit_then_first_ledger_row(api: FundsApi) -> None:
    reply = await api.stub.CreateAccount(
        oms_pb2.CreateAccountRequest(
            login="create-it-1",
            password="hunter22-long",
            type=types_pb2.ACCOUNT_TYPE_LIVE,
            currency="EUR",
            leverage=30,
            margin_mode=types_pb2.MARGIN_MODE_NETTING,
            client_group="pro",
            initial_deposit="2500.00",
        )
    )
    info = reply.account
    assert (info.login, info.currency, info.leverage, info.client_group) == (
        "create-it-1",
        "EUR",
        30,
        "pro",
    )
    assert info.type == types_pb2.ACCOUNT_TYPE_LIVE
    assert info.margin_mode == types_pb2.MARGIN_MODE_NETTING
    assert info.status == types_pb2.ACCOUNT_STATUS_ACTIVE
    assert (info.balance, info.margin_call_level, info.stop_out_level) == ("2500.00", "100", "50")
    ledger = await api.stub.ListLedger(oms_pb2.ListLedgerRequest(account_id=info.account_id))
    assert [(e.type, e.amount, e.reference) for e in ledger.entries] == [
        (DEPOSIT, "2500.00", "initial deposit")
    ]
    async with api.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT password_hash FROM oms.accounts WHERE account_id = $1", int(info.account_id)
        )
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password_sync(stored, "hunter22-long")


async def test_create_account_when_retried_with_its_request_id_then_the_same_account_once(
    api: FundsApi,
) -> None:
    def request(login: str) -> oms_pb2.CreateAccountRequest:
        return oms_pb2.CreateAccountRequest(
            login=login,
            password="hunter22-long",
            type=types_pb2.ACCOUNT_TYPE_DEMO,
            currency="USD",
            leverage=100,
            initial_deposit="100.00",
            request_id="onboard-7",
        )

    replies = await asyncio.gather(*(api.stub.CreateAccount(request("idem-1")) for _ in range(3)))
    again = await api.stub.CreateAccount(request("idem-1"))
    other = await rpc_error(api.stub.CreateAccount(request("idem-2")))

    ids = {r.account.account_id for r in [*replies, again]}
    assert len(ids) == 1
    ledger = await api.stub.ListLedger(oms_pb2.ListLedgerRequest(account_id=ids.pop()))
    assert [(e.type, e.amount) for e in ledger.entries] == [(DEPOSIT, "100.00")]  # once
    assert (other.code, other.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "IDEMPOTENCY_KEY_REUSED",
    )


async def test_create_account_when_login_taken_then_already_exists(api: FundsApi) -> None:
    request = oms_pb2.CreateAccountRequest(
        login="create-it-dup",
        password="long-enough",
        type=types_pb2.ACCOUNT_TYPE_DEMO,
        currency="USD",
        leverage=100,
    )
    await api.stub.CreateAccount(request)
    err = await rpc_error(api.stub.CreateAccount(request))
    assert (err.code, err.reason) == (grpc.StatusCode.ALREADY_EXISTS, "LOGIN_TAKEN")


@pytest.mark.parametrize(
    ("currency", "reason"), [("XYZ", "INVALID_CURRENCY"), ("usd", "INVALID_CURRENCY")]
)
async def test_create_account_when_currency_not_bookable_then_invalid(
    api: FundsApi, currency: str, reason: str
) -> None:
    request = oms_pb2.CreateAccountRequest(
        login=f"cur-{currency}",
        password="long-enough",
        type=types_pb2.ACCOUNT_TYPE_DEMO,
        currency=currency,
        leverage=100,
    )
    err = await rpc_error(api.stub.CreateAccount(request))
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


async def test_update_account_when_fields_given_then_only_those_change(api: FundsApi) -> None:
    account = await api.create()
    reply = await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(
            account_id=str(account),
            leverage=50,
            client_group="vip",
            margin_call_level="120",
            stop_out_level="30",
            negative_balance_protection="false",
            max_open_positions=10,
            max_daily_volume="25.5",
        )
    )
    info = reply.account
    assert (info.leverage, info.client_group, info.margin_call_level, info.stop_out_level) == (
        50,
        "vip",
        "120",
        "30",
    )
    assert not info.negative_balance_protection
    assert (info.max_open_positions, info.max_daily_volume) == (10, "25.5")
    assert info.status == types_pb2.ACCOUNT_STATUS_ACTIVE

    kept = await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(account_id=str(account), max_open_positions=-1)
    )
    assert (kept.account.leverage, kept.account.max_open_positions) == (50, 10)

    removed = await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(
            account_id=str(account), max_open_positions=0, max_daily_volume="0"
        )
    )
    assert (removed.account.max_open_positions, removed.account.max_daily_volume) == (0, "")


async def test_update_account_when_stop_out_not_below_margin_call_then_invalid(
    api: FundsApi,
) -> None:
    account = await api.create()
    err = await rpc_error(
        api.stub.UpdateAccount(
            oms_pb2.UpdateAccountRequest(account_id=str(account), stop_out_level="100")
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_STOP_OUT_LEVEL")
    err = await rpc_error(
        api.stub.UpdateAccount(
            oms_pb2.UpdateAccountRequest(account_id=str(account), margin_call_level="40")
        )
    )
    assert err.reason == "INVALID_STOP_OUT_LEVEL"


async def test_suspend_then_reactivate_when_updated_then_status_follows(api: FundsApi) -> None:
    account = await api.create()
    suspended = await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(
            account_id=str(account), status=types_pb2.ACCOUNT_STATUS_SUSPENDED
        )
    )
    assert suspended.account.status == types_pb2.ACCOUNT_STATUS_SUSPENDED
    active = await api.stub.UpdateAccount(
        oms_pb2.UpdateAccountRequest(
            account_id=str(account), status=types_pb2.ACCOUNT_STATUS_ACTIVE
        )
    )
    assert active.account.status == types_pb2.ACCOUNT_STATUS_ACTIVE


async def test_close_account_when_positions_open_then_refused(api: FundsApi) -> None:
    account = await api.create()
    async with api.pool.acquire() as conn:
        await open_position(conn, account, "EURUSD", "SELL", "0.10", "1.08000")
    err = await rpc_error(
        api.stub.UpdateAccount(
            oms_pb2.UpdateAccountRequest(
                account_id=str(account), status=types_pb2.ACCOUNT_STATUS_CLOSED
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_NOT_FLAT")


async def test_closed_account_when_updated_again_then_closed_is_final(api: FundsApi) -> None:
    account = await api.create(deposit="0")
    request = oms_pb2.UpdateAccountRequest(
        account_id=str(account), status=types_pb2.ACCOUNT_STATUS_CLOSED
    )
    await api.stub.UpdateAccount(request)
    err = await rpc_error(
        api.stub.UpdateAccount(
            oms_pb2.UpdateAccountRequest(
                account_id=str(account), status=types_pb2.ACCOUNT_STATUS_ACTIVE
            )
        )
    )
    assert err.reason == "ACCOUNT_CLOSED"


# --- listings ----------------------------------------------------------------------------------


async def test_list_ledger_when_paged_then_newest_first_without_gaps_or_repeats(
    api: FundsApi,
) -> None:
    account = await api.create(deposit="1.00")
    for i in range(2, 7):
        await api.post(account, "DEPOSIT", f"{i}.00")
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = await api.stub.ListLedger(
            oms_pb2.ListLedgerRequest(account_id=str(account), page_size=2, page_token=token)
        )
        seen += [e.amount for e in reply.entries]
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert seen == ["6.00", "5.00", "4.00", "3.00", "2.00", "1.00"]
    assert pages in (3, 4)  # a full last page may be followed by an empty one


async def test_list_ledger_when_time_range_then_only_rows_inside(api: FundsApi) -> None:
    account = await api.create(deposit="1.00")
    middle = await api.post(account, "DEPOSIT", "2.00")
    last = await api.post(account, "DEPOSIT", "3.00")
    request = oms_pb2.ListLedgerRequest(account_id=str(account))
    request.from_time.CopyFrom(middle.entry.create_time)
    request.to_time.CopyFrom(last.entry.create_time)
    reply = await api.stub.ListLedger(request)
    assert [e.amount for e in reply.entries] == ["2.00"]


async def test_list_ledger_when_token_is_forged_then_invalid_page_token(api: FundsApi) -> None:
    account = await api.create()
    err = await rpc_error(
        api.stub.ListLedger(oms_pb2.ListLedgerRequest(account_id=str(account), page_token="zz"))
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_list_deals_when_paged_then_newest_first_and_range_applies(api: FundsApi) -> None:
    account = await api.create()
    t0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
    async with api.pool.acquire() as conn:
        position = await open_position(conn, account, "EURUSD", "BUY", "0.30", "1.08000")
        ids = [
            await add_deal(
                conn, account, position, "EURUSD", "BUY", "0.10", "1.08000", t0 + timedelta(hours=h)
            )
            for h in range(3)
        ]
    first = await api.stub.ListDeals(oms_pb2.ListDealsRequest(account_id=str(account), page_size=2))
    assert [d.deal_id for d in first.deals] == [str(ids[2]), str(ids[1])]
    assert first.deals[0].entry == types_pb2.DEAL_ENTRY_IN
    assert first.deals[0].book == types_pb2.BOOK_B
    second = await api.stub.ListDeals(
        oms_pb2.ListDealsRequest(
            account_id=str(account), page_size=2, page_token=first.next_page_token
        )
    )
    assert [d.deal_id for d in second.deals] == [str(ids[0])]
    assert second.next_page_token == ""
    ranged = oms_pb2.ListDealsRequest(account_id=str(account))
    ranged.from_time.CopyFrom(ts(t0 + timedelta(minutes=30)))
    ranged.to_time.CopyFrom(ts(t0 + timedelta(hours=2)))
    reply = await api.stub.ListDeals(ranged)
    assert [d.deal_id for d in reply.deals] == [str(ids[1])]


async def test_listings_when_account_unknown_then_not_found(api: FundsApi) -> None:
    err = await rpc_error(api.stub.ListDeals(oms_pb2.ListDealsRequest(account_id="99999999")))
    assert err.reason == "ACCOUNT_NOT_FOUND"


# --- statements --------------------------------------------------------------------------------


async def test_statement_when_period_in_the_middle_then_opening_plus_totals_is_closing(
    api: FundsApi, eurusd: None
) -> None:
    account = await api.create(deposit="1000.00")  # before the period
    inside = [
        await api.post(account, "DEPOSIT", "500.00"),
        await api.post(account, "WITHDRAWAL", "200.00"),
        await api.post(account, "BONUS", "50.00"),
        await api.post(account, "ADJUSTMENT", "-12.34"),
        await api.post(account, "DEPOSIT", "0.34"),
    ]
    after = await api.post(account, "DEPOSIT", "999.00")  # after the period
    deal_time = inside[1].entry.create_time.ToDatetime(tzinfo=UTC)
    async with api.pool.acquire() as conn:
        position = await open_position(conn, account, "EURUSD", "BUY", "1", "1.08450")
        await add_deal(conn, account, position, "EURUSD", "BUY", "1", "1.08450", deal_time)
    request = oms_pb2.GetStatementRequest(account_id=str(account))
    request.from_time.CopyFrom(inside[0].entry.create_time)
    request.to_time.CopyFrom(after.entry.create_time)
    st = await api.stub.GetStatement(request)

    assert (st.opening_balance, st.closing_balance) == ("1000.00", "1338.00")
    totals = {t.type: (t.amount, t.count) for t in st.totals}
    assert totals == {
        types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT: ("500.34", 2),
        types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL: ("-200.00", 1),
        types_pb2.LEDGER_ENTRY_TYPE_BONUS: ("50.00", 1),
        types_pb2.LEDGER_ENTRY_TYPE_ADJUSTMENT: ("-12.34", 1),
    }
    assert D(st.opening_balance) + sum(D(t.amount) for t in st.totals) == D(st.closing_balance)
    assert [d.price for d in st.deals] == ["1.08450"]
    assert [p.symbol for p in st.open_positions] == ["EURUSD"]
    assert st.open_positions[0].profit == "50.00"
    assert st.summary.balance == "2337.00"
    assert st.summary.equity == "2387.00"
    assert st.summary.margin == "1084.50"
    assert st.account.account_id == str(account)


async def test_statement_when_period_before_first_row_then_zero_balances(api: FundsApi) -> None:
    account = await api.create(deposit="10.00")
    request = oms_pb2.GetStatementRequest(account_id=str(account))
    request.from_time.CopyFrom(ts(datetime(2020, 1, 1, tzinfo=UTC)))
    request.to_time.CopyFrom(ts(datetime(2020, 2, 1, tzinfo=UTC)))
    st = await api.stub.GetStatement(request)
    assert (st.opening_balance, st.closing_balance, list(st.totals)) == ("0", "0", [])


# --- risk tools --------------------------------------------------------------------------------


async def test_calculate_lot_when_risk_100_usd_at_50_points_then_two_lots(
    api: FundsApi, eurusd: None
) -> None:
    """Entry at the ask 1.08520; SL 50 points below = 1.08470; 50 USD per lot -> 2.00 lots;
    margin 2 x 1000 x 1.08520 = 2170.40 USD."""
    account = await api.create()
    reply = await api.stub.CalculateLot(
        oms_pb2.CalculateLotRequest(
            account_id=str(account),
            symbol="EURUSD",
            side=types_pb2.SIDE_BUY,
            risk_amount="100",
            stop_loss_points=50,
        )
    )
    assert (reply.volume, reply.risk_amount, reply.margin) == ("2.00", "100.00", "2170.40")
    assert (reply.entry_price, reply.stop_loss) == ("1.08520", "1.08470")


async def test_calculate_lot_when_risk_percent_and_sell_stop_price_then_from_equity(
    api: FundsApi, eurusd: None
) -> None:
    """Equity 10 000, 1 % = 100 USD. SELL enters at the bid 1.08500, SL 1.08800: 30 pips = 300 USD
    per lot -> 0.333 -> 0.33 lots, which risks 99.00 USD."""
    account = await api.create()
    reply = await api.stub.CalculateLot(
        oms_pb2.CalculateLotRequest(
            account_id=str(account),
            symbol="EURUSD",
            side=types_pb2.SIDE_SELL,
            risk_percent="1",
            stop_loss="1.08800",
        )
    )
    assert (reply.volume, reply.risk_amount, reply.entry_price) == ("0.33", "99.00", "1.08500")


async def test_calculate_lot_when_minimum_volume_risks_too_much_then_zero(
    api: FundsApi, eurusd: None
) -> None:
    account = await api.create()
    reply = await api.stub.CalculateLot(
        oms_pb2.CalculateLotRequest(
            account_id=str(account),
            symbol="USDJPY",
            side=types_pb2.SIDE_BUY,
            risk_amount="0.50",
            stop_loss_points=1000,
        )
    )
    assert (reply.volume, reply.risk_amount) == ("0", "0.00")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"symbol": "NOPE", "stop_loss_points": 10}, "UNKNOWN_SYMBOL"),
        ({"symbol": "GBPUSD", "stop_loss_points": 10}, "NO_QUOTE"),
        ({"symbol": "EURUSD", "stop_loss": "1.09000"}, "STOP_LOSS_WRONG_SIDE"),
        ({"symbol": "EURUSD", "stop_loss": "1.084701"}, "INVALID_PRECISION"),
        ({"symbol": "EURUSD"}, "STOP_LOSS_REQUIRED"),
    ],
)
async def test_calculate_lot_when_input_unusable_then_invalid_argument_with_reason(
    api: FundsApi, eurusd: None, fields: dict[str, object], reason: str
) -> None:
    account = await api.create()
    err = await rpc_error(
        api.stub.CalculateLot(
            oms_pb2.CalculateLotRequest(
                account_id=str(account),
                side=types_pb2.SIDE_BUY,
                risk_amount="100",
                **fields,  # type: ignore[arg-type]
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


async def test_preview_margin_when_flat_account_then_margin_commission_and_level(
    api: FundsApi, eurusd: None
) -> None:
    """BUY 1 EURUSD at the ask 1.08520: margin 1085.20, commission 3.50. Free margin 10 000
    before; after: equity 9996.50 - 1085.20 = 8911.30; level 9996.50 / 1085.20 = 921.17 %."""
    account = await api.create()
    reply = await api.stub.PreviewMargin(
        oms_pb2.PreviewMarginRequest(
            account_id=str(account), symbol="EURUSD", side=types_pb2.SIDE_BUY, volume="1"
        )
    )
    assert (reply.margin, reply.commission, reply.currency) == ("1085.20", "3.50", "USD")
    assert (reply.free_margin_before, reply.free_margin_after) == ("10000.00", "8911.30")
    assert reply.margin_level_after == "921.17"
    assert reply.sufficient


async def test_preview_margin_when_order_hedges_open_position_then_no_extra_margin(
    api: FundsApi, eurusd: None
) -> None:
    """Open BUY 1 @1.08450 holds 1084.50. A SELL 1 at the bid 1.08500 would hold 1085.00 on the
    other side: the larger leg grows by 0.50 only."""
    account = await api.create(deposit="1100.00")
    async with api.pool.acquire() as conn:
        await open_position(conn, account, "EURUSD", "BUY", "1", "1.08450")
    reply = await api.stub.PreviewMargin(
        oms_pb2.PreviewMarginRequest(
            account_id=str(account), symbol="EURUSD", side=types_pb2.SIDE_SELL, volume="1"
        )
    )
    assert reply.margin == "0.50"
    assert reply.sufficient
    bigger = await api.stub.PreviewMargin(
        oms_pb2.PreviewMarginRequest(
            account_id=str(account), symbol="EURUSD", side=types_pb2.SIDE_BUY, volume="1"
        )
    )
    assert bigger.margin == "1085.20"
    assert not bigger.sufficient


@pytest.mark.parametrize(
    ("volume", "reason"), [("0.001", "VOLUME_TOO_SMALL"), ("0.015", "VOLUME_STEP")]
)
async def test_preview_margin_when_volume_breaks_symbol_rules_then_reason(
    api: FundsApi, eurusd: None, volume: str, reason: str
) -> None:
    account = await api.create()
    err = await rpc_error(
        api.stub.PreviewMargin(
            oms_pb2.PreviewMarginRequest(
                account_id=str(account), symbol="EURUSD", side=types_pb2.SIDE_BUY, volume=volume
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


async def test_list_accounts_when_searched_then_login_email_name_id_filters_and_pages(
    api: FundsApi,
) -> None:
    tag = uuid.uuid4().hex[:8]

    async def create(login: str, **extra: object) -> str:
        reply = await api.stub.CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=login,
                password="hunter22-long",
                type=types_pb2.ACCOUNT_TYPE_LIVE,
                currency="USD",
                leverage=100,
                **extra,  # type: ignore[arg-type]
            )
        )
        return reply.account.account_id

    ann = await create(f"ann-{tag}", email=f"Ann.Lee+{tag}@Example.com", name="Ann  Lee")
    bob = await create(f"bob-{tag}", name=f"Bob {tag}", client_group="vip")
    cyd = await create(f"cyd-{tag}", client_group="vip")

    async def ids(**fields: object) -> list[str]:
        reply = await api.stub.ListAccounts(oms_pb2.ListAccountsRequest(**fields))  # type: ignore[arg-type]
        return [a.account_id for a in reply.accounts]

    assert await ids(query=f"lee+{tag}@example") == [ann]  # email, any case
    assert await ids(query=f"BOB {tag}") == [bob]  # name
    assert await ids(query=tag) == [ann, bob, cyd]  # logins
    assert cyd in await ids(query=cyd)  # the id itself (and logins containing its digits)
    assert await ids(query=tag, client_group="vip") == [bob, cyd]
    assert await ids(query="%") == []  # a LIKE wildcard is a character, not "anything"
    first = await api.stub.ListAccounts(oms_pb2.ListAccountsRequest(query=tag, page_size=2))
    rest = await api.stub.ListAccounts(
        oms_pb2.ListAccountsRequest(query=tag, page_size=2, page_token=first.next_page_token)
    )
    assert [a.account_id for a in first.accounts] == [ann, bob]
    assert ([a.account_id for a in rest.accounts], rest.next_page_token) == ([cyd], "")
    [info] = (await api.stub.ListAccounts(oms_pb2.ListAccountsRequest(query=f"ann-{tag}"))).accounts
    assert (info.email, info.name) == (f"Ann.Lee+{tag}@Example.com", "Ann Lee")
    bad = await rpc_error(api.stub.ListAccounts(oms_pb2.ListAccountsRequest(page_token="x")))
    assert bad.reason == "INVALID_PAGE_TOKEN"
    email = await rpc_error(create(f"dan-{tag}", email="not-an-address"))
    assert (email.code, email.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_EMAIL")
