"""Accounts and their money (``AccountBook``): opening and changing accounts, balance operations,
listings of deals and ledger, and account statements.

Every balance change runs in ``UnitOfWork.locked`` (the account's row lock): it appends one ledger
row (balance_before / balance_after), updates ``accounts.balance`` and enqueues an
``account_update`` event in ONE transaction, so ``balance == sum(ledger.amount)`` holds at every
commit, and after the commit the trading listeners (the trigger watcher's stop-out levels) hear the
new balance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog
from prometheus_client import Counter

from fxmesh import passwords
from fxmesh.db import Conn
from fxmesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from fxmesh.eventtypes import EventType
from fxmesh.money import CURRENCY_DIGITS, fmt, places
from fxmesh.reasons import Reason
from oms.domain import accounting, holds
from oms.domain.commands import (
    AccountChanges,
    BalanceOperation,
    HoldRequest,
    NewAccount,
    PageRequest,
)
from oms.domain.events import account_json
from oms.domain.holds import HoldMove, HoldStatus
from oms.domain.model import Account, AccountFigures, AccountId, NoConversionRate, Price, SymbolSpec
from oms.domain.records import DealRow, LedgerRow, PositionRow
from oms.domain.results import BalanceResult, HoldResult, Page, Statement
from oms.store import accounts as account_store
from oms.store import holds as hold_store
from oms.store import ledger as ledger_store
from oms.store import orders as order_store
from oms.store import outbox
from oms.store import positions as position_store
from oms.trading.unit_of_work import UnitOfWork, account_not_found, mark_views

log = structlog.stdlib.get_logger(__name__)

HOLD_MOVES = Counter(
    "fxmesh_oms_funds_holds_total",
    "Funds holds placed, captured and released (replays not counted).",
    ["move"],
)
BALANCE_OPERATIONS = Counter(
    "fxmesh_oms_balance_operations_total",
    "Balance operations booked (replays not counted), by ledger type.",
    ["type"],
)
# A statement carries every deal of its period; longer periods must be asked for in parts.
STATEMENT_MAX_DEALS = 10_000


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account with its open positions and live figures, read in one transaction."""

    account: Account
    positions: list[PositionRow]
    in_flight: list[accounting.MarginLeg]
    figures: AccountFigures


async def load_account_state(
    conn: Conn,
    account_id: AccountId,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    *,
    strict: bool,
) -> AccountState:
    """The account's live state; ``strict`` refuses (``MissingQuote``) to value without quotes."""
    account = await account_store.get_account(conn, account_id)
    if account is None:
        raise account_not_found(account_id)
    positions = await position_store.open_positions(conn, account_id)
    # Orders closing a position reserve no margin (as in the core's figures).
    opening = [o for o in await order_store.in_flight(conn, account_id) if o.position_id is None]
    legs = accounting.order_legs(opening, prices, strict=strict)
    figures = accounting.live_figures(
        account.balance,
        account.currency,
        account.leverage,
        [p.as_open() for p in positions],
        legs,
        symbols,
        prices,
        strict=strict,
        held=account.held,
    )
    return AccountState(account, positions, legs, figures)


def _check_precision(amount: Decimal, currency: str, field: str) -> None:
    digits = CURRENCY_DIGITS.get(currency, 2)
    if places(amount) > digits:
        raise InvalidArgument(
            f"{field} has more than {digits} decimal places for {currency}",
            reason=Reason.INVALID_PRECISION,
            metadata={"field": field, "max_places": str(digits), "currency": currency},
        )


async def _check_new_money_request(
    conn: Conn, account: Account, request_id: str, amount: Decimal
) -> None:
    """What a new balance operation or funds hold needs once its own replay is ruled out: its
    request id names nothing else of the account's (a ledger entry or a hold: one request, one
    effect), the amount fits the currency's minor units, and the account is not closed."""
    booked = await ledger_store.ledger_by_request(conn, account.account_id, request_id)
    if booked is not None:
        raise FailedPrecondition(
            f"request_id {request_id!r} booked ledger entry {booked.ledger_id}",
            reason=Reason.IDEMPOTENCY_KEY_REUSED,
            metadata={"request_id": request_id, "ledger_id": str(booked.ledger_id)},
        )
    held = await hold_store.hold_by_request(conn, account.account_id, request_id)
    if held is not None:
        raise FailedPrecondition(
            f"request_id {request_id!r} placed hold {held.hold_id}",
            reason=Reason.IDEMPOTENCY_KEY_REUSED,
            metadata={"request_id": request_id, "hold_id": str(held.hold_id)},
        )
    _check_precision(amount, account.currency, "amount")
    if account.status == "CLOSED":
        raise FailedPrecondition("the account is closed", reason=Reason.ACCOUNT_CLOSED)


async def _new_account_event(conn: Conn, entry: LedgerRow) -> None:
    """``account_update`` of a new account's first deposit (no positions: figures = balance)."""
    account = await account_store.get_account(conn, entry.account_id)
    assert account is not None
    figures = accounting.live_figures(
        account.balance, account.currency, account.leverage, [], [], {}, {}, strict=True
    )
    await outbox.enqueue(
        conn, EventType.ACCOUNT_UPDATE, entry.account_id, account_json(account, figures, "DEPOSIT")
    )


_LEDGER_ORDER = (
    "DEPOSIT",
    "WITHDRAWAL",
    "COMMISSION",
    "SWAP",
    "REALIZED_PNL",
    "BONUS",
    "ADJUSTMENT",
)


class AccountBook:
    """Balance operations, account administration, deals / ledger listings and statements."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._pool = uow.pool

    # --- balance operations ----------------------------------------------------------------------

    async def post_balance_operation(self, op: BalanceOperation) -> BalanceResult:
        """Book a deposit, withdrawal, bonus or adjustment once per (account, request_id).

        A retry with the same content returns the first entry (``replayed``); the same request_id
        with other content is refused with IDEMPOTENCY_KEY_REUSED. A withdrawal may take at most
        the smaller of the balance and the free margin (positions valued at the current quotes).
        """
        booked = -op.amount if op.type == "WITHDRAWAL" else op.amount
        symbols, prices = await self._uow.market()
        async with self._uow.locked(op.account_id) as tx:
            conn, account = tx.conn, tx.account
            first = await ledger_store.ledger_by_request(conn, op.account_id, op.request_id)
            if first is not None:
                if (first.type, first.amount, first.reference, first.note, first.method) != (
                    op.type,
                    booked,
                    op.reference,
                    op.note,
                    op.method,
                ):
                    raise FailedPrecondition(
                        f"request_id {op.request_id!r} was used for a different operation",
                        reason=Reason.IDEMPOTENCY_KEY_REUSED,
                        metadata={"request_id": op.request_id, "ledger_id": str(first.ledger_id)},
                    )
                return BalanceResult(first, replayed=True)
            await _check_new_money_request(conn, account, op.request_id, op.amount)
            if op.type == "WITHDRAWAL":
                await self._check_withdrawable(conn, account, op.amount, symbols, prices)
            entry = await ledger_store.append_ledger(
                conn,
                op.account_id,
                op.type,
                booked,
                account.currency,
                request_id=op.request_id,
                reference=op.reference,
                note=op.note,
                method=op.method,
            )
            await tx.account_update(op.type, symbols, prices)
        BALANCE_OPERATIONS.labels(op.type).inc()
        log.info(
            "balance_operation",
            account_id=op.account_id,
            type=op.type,
            amount=fmt(booked),
            ledger_id=entry.ledger_id,
        )
        return BalanceResult(entry, replayed=False)

    # --- funds holds (withdrawals awaiting approval) ----------------------------------------------

    async def place_hold(self, req: HoldRequest) -> HoldResult:
        """Hold ``req.amount`` for a withdrawal awaiting approval, once per (account, request_id).

        The amount must fit what a withdrawal may take now (NOT_ENOUGH_FREE_MARGIN otherwise);
        from then on it is off the free margin. A retry with the same content answers the first
        hold (``replayed``); the same request id for something else is IDEMPOTENCY_KEY_REUSED.
        """
        symbols, prices = await self._uow.market()
        async with self._uow.locked(req.account_id) as tx:
            conn, account = tx.conn, tx.account
            first = await hold_store.hold_by_request(conn, req.account_id, req.request_id)
            if first is not None:
                if not holds.same_request(first, req.amount, req.method, req.reference, req.note):
                    raise FailedPrecondition(
                        f"request_id {req.request_id!r} was used for a different hold",
                        reason=Reason.IDEMPOTENCY_KEY_REUSED,
                        metadata={"request_id": req.request_id, "hold_id": str(first.hold_id)},
                    )
                return HoldResult(first, None, replayed=True)
            await _check_new_money_request(conn, account, req.request_id, req.amount)
            await self._check_withdrawable(conn, account, req.amount, symbols, prices)
            hold = await hold_store.insert_hold(
                conn,
                req.account_id,
                req.amount,
                account.currency,
                request_id=req.request_id,
                method=req.method,
                reference=req.reference,
                note=req.note,
            )
            # Free margin changed: the client sees it, the trigger watcher hears the account.
            await tx.account_update("FUNDS_HELD", symbols, prices)
        HOLD_MOVES.labels("place").inc()
        log.info(
            "funds_held", account_id=req.account_id, hold_id=hold.hold_id, amount=fmt(hold.amount)
        )
        return HoldResult(hold, None, replayed=False)

    async def capture_hold(self, account_id: AccountId, hold_id: int) -> HoldResult:
        """Book the hold's WITHDRAWAL ledger row (its request id, method, reference and note) and
        mark it CAPTURED, in one transaction. Capturing it again answers the same row
        (``replayed``); a released hold is HOLD_NOT_ACTIVE; a balance that no longer covers the
        amount is INSUFFICIENT_BALANCE (the hold stays ACTIVE)."""
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            conn, account = tx.conn, tx.account
            hold = await self._hold_for(conn, account_id, hold_id, HoldMove.CAPTURE)
            if holds.is_replay(hold, HoldMove.CAPTURE):
                assert hold.ledger_id is not None
                entry = await ledger_store.ledger_by_request(conn, account_id, hold.request_id)
                return HoldResult(hold, entry, replayed=True)
            problem = holds.capture_problem(hold, account.balance)
            if problem is not None:
                raise FailedPrecondition(
                    problem.message,
                    reason=problem.code,
                    metadata={"balance": fmt(account.balance), "currency": account.currency},
                )
            entry = await ledger_store.append_ledger(
                conn,
                account_id,
                "WITHDRAWAL",
                -hold.amount,
                account.currency,
                request_id=hold.request_id,
                reference=hold.reference,
                note=hold.note,
                method=hold.method,
            )
            hold = await hold_store.end_hold(conn, hold, HoldStatus.CAPTURED, entry.ledger_id)
            await tx.account_update("WITHDRAWAL", symbols, prices)
        HOLD_MOVES.labels("capture").inc()
        BALANCE_OPERATIONS.labels("WITHDRAWAL").inc()
        log.info(
            "funds_hold_captured",
            account_id=account_id,
            hold_id=hold_id,
            amount=fmt(entry.amount),
            ledger_id=entry.ledger_id,
        )
        return HoldResult(hold, entry, replayed=False)

    async def release_hold(self, account_id: AccountId, hold_id: int) -> HoldResult:
        """Mark the hold RELEASED (its money is free again; no ledger row). Releasing it again
        answers the same hold (``replayed``); a captured hold is HOLD_NOT_ACTIVE."""
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            hold = await self._hold_for(tx.conn, account_id, hold_id, HoldMove.RELEASE)
            if holds.is_replay(hold, HoldMove.RELEASE):
                return HoldResult(hold, None, replayed=True)
            hold = await hold_store.end_hold(tx.conn, hold, HoldStatus.RELEASED)
            await tx.account_update("FUNDS_RELEASED", symbols, prices)
        HOLD_MOVES.labels("release").inc()
        log.info("funds_hold_released", account_id=account_id, hold_id=hold_id)
        return HoldResult(hold, None, replayed=False)

    @staticmethod
    async def _hold_for(
        conn: Conn, account_id: AccountId, hold_id: int, move: HoldMove
    ) -> holds.HoldRow:
        hold = await hold_store.get_hold(conn, account_id, hold_id)
        if hold is None:
            raise NotFound(
                f"account {account_id} has no hold {hold_id}",
                reason=Reason.HOLD_NOT_FOUND,
                metadata={"account_id": str(account_id), "hold_id": str(hold_id)},
            )
        problem = holds.move_problem(hold, move)
        if problem is not None:
            raise FailedPrecondition(
                problem.message, reason=problem.code, metadata={"status": hold.status.value}
            )
        return hold

    async def _check_withdrawable(
        self,
        conn: Conn,
        account: Account,
        amount: Decimal,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> None:
        try:
            state = await load_account_state(conn, account.account_id, symbols, prices, strict=True)
        except NoConversionRate as exc:
            raise FailedPrecondition(
                f"open positions cannot be valued now: {exc}", reason=Reason.NO_QUOTE
            ) from None
        # Floating profit is not cash and held funds are spoken for: a withdrawal never takes
        # the balance below zero, nor below what pending withdrawals hold.
        available = holds.withdrawable(state.figures.free_margin, account.balance, account.held)
        if amount > available:
            raise FailedPrecondition(
                f"withdrawal of {amount} exceeds the {available} {account.currency} "
                "that free margin allows",
                reason=Reason.NOT_ENOUGH_FREE_MARGIN,
                metadata={"withdrawable": fmt(available), "currency": account.currency},
            )

    # --- accounts --------------------------------------------------------------------------------

    @staticmethod
    async def _read(conn: Conn, account_id: AccountId) -> Account:
        account = await account_store.get_account(conn, account_id)
        if account is None:
            raise account_not_found(account_id)
        return account

    async def create_account(self, cmd: NewAccount) -> Account:
        """Open an account (argon2 password); an initial deposit is its first ledger row."""
        if cmd.currency not in CURRENCY_DIGITS:
            raise InvalidArgument(
                f"{cmd.currency!r} is not an account currency ({', '.join(CURRENCY_DIGITS)})",
                reason="INVALID_CURRENCY",
                metadata={"field": "currency"},
            )
        if cmd.initial_deposit is not None:
            _check_precision(cmd.initial_deposit, cmd.currency, "initial_deposit")
        if cmd.request_id is not None:
            async with self._pool.acquire() as conn:
                replay = await self._created_before(conn, cmd)
            if replay is not None:
                return replay
        password_hash = await asyncio.to_thread(passwords.hash_password, cmd.password)
        async with self._pool.acquire() as conn, conn.transaction():
            account_id = await account_store.insert_account(
                conn,
                login=cmd.login,
                password_hash=password_hash,
                account_type=cmd.type,
                currency=cmd.currency,
                leverage=cmd.leverage,
                margin_mode=cmd.margin_mode,
                client_group=cmd.client_group,
                request_id=cmd.request_id,
                email=cmd.email,
                name=cmd.name,
            )
            if account_id is None and cmd.request_id is not None:
                # A concurrent retry with the same request id may have won the insert.
                replay = await self._created_before(conn, cmd)
                if replay is not None:
                    return replay
            if account_id is None:
                raise AlreadyExists(
                    f"login {cmd.login!r} is taken",
                    reason="LOGIN_TAKEN",
                    metadata={"login": cmd.login},
                )
            if cmd.initial_deposit is not None:
                await account_store.get_account(conn, account_id, lock=True)
                entry = await ledger_store.append_ledger(
                    conn,
                    account_id,
                    "DEPOSIT",
                    cmd.initial_deposit,
                    cmd.currency,
                    reference="initial deposit",
                )
                await _new_account_event(conn, entry)
            view = await self._read(conn, account_id)
        if cmd.initial_deposit is not None:
            self._uow.outbox_written()
        log.info("account_created", account_id=account_id, type=cmd.type, currency=cmd.currency)
        return view

    async def _created_before(self, conn: Conn, cmd: NewAccount) -> Account | None:
        """The account a CreateAccount with ``cmd``'s request id opened (None: none did); the
        same request id for another login is IDEMPOTENCY_KEY_REUSED."""
        assert cmd.request_id is not None
        created = await account_store.account_created_by(conn, cmd.request_id)
        if created is None:
            return None
        account_id, login = created
        if login != cmd.login:
            raise FailedPrecondition(
                f"request_id {cmd.request_id!r} opened account {account_id} for another login",
                reason=Reason.IDEMPOTENCY_KEY_REUSED,
                metadata={"request_id": cmd.request_id, "account_id": str(account_id)},
            )
        return await self._read(conn, account_id)

    async def update_account(self, account_id: AccountId, changes: AccountChanges) -> Account:
        """Change status, leverage, group, levels or limits; a CLOSED account is final."""
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            conn, account = tx.conn, tx.account
            if account.status == "CLOSED":
                raise FailedPrecondition("the account is closed", reason=Reason.ACCOUNT_CLOSED)
            call = changes.margin_call_level or account.margin_call_level
            stop_out = (
                changes.stop_out_level
                if changes.stop_out_level is not None
                else account.stop_out_level
            )
            if stop_out >= call:
                raise InvalidArgument(
                    f"stop_out_level {stop_out} must be below margin_call_level {call}",
                    reason="INVALID_STOP_OUT_LEVEL",
                    metadata={"field": "stop_out_level"},
                )
            if changes.status == "CLOSED":
                if account.held > 0:  # a withdrawal awaiting approval is still to be decided
                    raise FailedPrecondition(
                        f"{fmt(account.held)} {account.currency} is held for withdrawals "
                        "awaiting approval",
                        reason=Reason.ACCOUNT_NOT_FLAT,
                        metadata={"held": fmt(account.held)},
                    )
                positions, orders = await account_store.open_exposure(conn, account_id)
                if positions or orders:
                    raise FailedPrecondition(
                        f"the account has {positions} open positions and {orders} open orders",
                        reason=Reason.ACCOUNT_NOT_FLAT,
                        metadata={"positions": str(positions), "orders": str(orders)},
                    )
            await account_store.update_account(conn, account_id, changes)
            # Re-reads the account: the trigger watcher hears the new leverage and levels.
            await tx.account_update("ACCOUNT_UPDATED", symbols, prices)
            view = tx.account
        log.info("account_updated", account_id=account_id, status=view.status)
        return view

    # --- listings and statements -----------------------------------------------------------------

    async def list_ledger(self, account_id: AccountId, page: PageRequest) -> Page[LedgerRow]:
        async with self._pool.acquire() as conn:
            if await account_store.get_account(conn, account_id) is None:
                raise account_not_found(account_id)
            rows = await ledger_store.ledger_page(
                conn, account_id, page.start, page.end, page.after, page.size
            )
        full = len(rows) == page.size
        return Page(rows, (rows[-1].created_at, rows[-1].ledger_id) if full else None)

    async def list_deals(self, account_id: AccountId, page: PageRequest) -> Page[DealRow]:
        async with self._pool.acquire() as conn:
            if await account_store.get_account(conn, account_id) is None:
                raise account_not_found(account_id)
            rows = await position_store.deal_page(
                conn, account_id, page.start, page.end, page.after, page.size
            )
        full = len(rows) == page.size
        return Page(rows, (rows[-1].deal_time, rows[-1].deal_id) if full else None)

    async def statement(self, account_id: AccountId, start: datetime, end: datetime) -> Statement:
        """The account's statement of [start, end), with the open positions and figures now.

        Opening balance is the balance_after of the last ledger row before ``start`` (0 if none),
        closing balance that of the last row before ``end``; the totals per type add up from one
        to the other (one snapshot).
        """
        symbols, prices = await self._uow.market()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            state = await load_account_state(conn, account_id, symbols, prices, strict=False)
            opening = await ledger_store.balance_at(conn, account_id, start)
            closing = await ledger_store.balance_at(conn, account_id, end)
            totals = await ledger_store.ledger_totals(conn, account_id, start, end)
            deals = await position_store.deals_between(
                conn, account_id, start, end, STATEMENT_MAX_DEALS + 1
            )
        if len(deals) > STATEMENT_MAX_DEALS:
            raise FailedPrecondition(
                f"the period has more than {STATEMENT_MAX_DEALS} deals; ask for a shorter one",
                reason="STATEMENT_TOO_LARGE",
            )
        totals.sort(key=lambda t: _LEDGER_ORDER.index(t[0]))
        return Statement(
            account=state.account,
            start=start,
            end=end,
            opening_balance=opening,
            closing_balance=closing,
            totals=totals,
            deals=deals,
            positions=mark_views(state.account, state.positions, symbols, prices),
            figures=state.figures,
            at=self._uow.now(),
        )
