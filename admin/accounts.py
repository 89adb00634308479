"""Client accounts and money, over oms's RPCs (admin owns no account data).

The account search runs in oms (``ListAccounts``: part of a login, email or name, or an exact
account id; type, status, group; by id after a page token); admin keeps its own page tokens over
it. ``OMS_LIST_LIMIT`` bounds what the operator figures count.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from admin.clients import OmsClient
from admin.documents import account_to_json, ledger_to_json, summary_to_json
from admin.domain import (
    AccountSummary,
    AccountUpdate,
    Booking,
    ClientAccount,
    Position,
    RequestContext,
    WithdrawalResult,
)
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.errors import FailedPrecondition, InvalidArgument
from fxmesh.money import CURRENCY_DIGITS, fmt, places
from fxmesh.reasons import Reason

if TYPE_CHECKING:
    from admin.withdrawals import WithdrawalsDesk

OMS_LIST_LIMIT = 1000
DEFAULT_PAGE, MAX_PAGE = 100, 1000
LEVERAGE_MIN, LEVERAGE_MAX = 1, 500
PAYMENT_METHODS = ("BANK_TRANSFER", "CRYPTO", "CARD")
ADJUSTMENT_TYPES = ("MANUAL", "BONUS", "CORRECTION")
ACCOUNT_TYPES = ("DEMO", "LIVE")
ACCOUNT_STATUSES = ("ACTIVE", "SUSPENDED", "CLOSED")
MARGIN_MODES = ("HEDGING", "NETTING")
REQUEST_ID_MAX = 64


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)


def invalid(message: str, reason: str, field_name: str, **meta: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field_name, **meta})


def account_id_of(value: str) -> str:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise invalid(
            f"account id must be digits, got {value!r}", Reason.INVALID_ACCOUNT_ID, "accountId"
        )
    return str(int(text))


def choice(value: str | None, allowed: tuple[str, ...], field_name: str, reason: str) -> str:
    text = (value or "").strip().upper()
    if text not in allowed:
        raise invalid(
            f"{field_name} must be one of {', '.join(allowed)}, got {value!r}", reason, field_name
        )
    return text


def decimal_of(value: Decimal | int | str | None, field_name: str) -> Decimal:
    """A decimal from a JSON string or number (never a float: JSON numbers arrive as Decimal)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid(f"{field_name} is required", Reason.MISSING_FIELD, field_name)
    if isinstance(value, bool | float):
        raise invalid(f"{field_name} must be a decimal", Reason.INVALID_DECIMAL, field_name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise invalid(
            f"{field_name} is not a decimal: {value!r}", Reason.INVALID_DECIMAL, field_name
        ) from None
    if not number.is_finite():
        raise invalid(f"{field_name} must be finite", Reason.INVALID_DECIMAL, field_name)
    return number


def _decimal_or_none(value: Decimal | str | None, field_name: str) -> Decimal | None:
    return None if value is None else decimal_of(value, field_name)


def leverage_of(value: int) -> int:
    if not LEVERAGE_MIN <= value <= LEVERAGE_MAX:
        raise invalid(
            f"leverage must be {LEVERAGE_MIN}..{LEVERAGE_MAX}, got {value}",
            Reason.INVALID_LEVERAGE,
            "leverage",
        )
    return value


def request_id_of(value: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise invalid(
            "a request id is required (requestId, or the Idempotency-Key / X-Request-Id header)",
            "MISSING_REQUEST_ID",
            "requestId",
        )
    if len(text) > REQUEST_ID_MAX:
        raise invalid(
            "request id is longer than 64 characters", Reason.INVALID_REQUEST_ID, "requestId"
        )
    return text


# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountSearch:
    query: str = ""
    type: str = ""
    status: str = ""
    group: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    password: str = field(repr=False)
    account_type: str
    currency: str
    leverage: int
    margin_mode: str = ""
    client_group: str = ""
    initial_deposit: Decimal | str | None = None
    email: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class AccountChanges:
    client_group: str | None = None
    margin_call_level: Decimal | str | None = None
    stop_out_level: Decimal | str | None = None
    negative_balance_protection: bool | None = None
    max_open_positions: int | None = None
    max_daily_volume: Decimal | str | None = None


@dataclass(frozen=True, slots=True)
class MoneyRequest:
    """A deposit, withdrawal, bonus or adjustment as asked (amount not yet checked)."""

    account_id: str
    amount: Decimal | int | str | None
    method: str = ""
    reference: str = ""
    note: str = ""
    adjustment_type: str = ""
    reason: str = ""


def _token(account_id: int) -> str:
    return base64.urlsafe_b64encode(f"c:{account_id}".encode()).decode().rstrip("=")


def _after_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, value = (
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        )
        if kind == "c" and value.isdigit():
            return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise invalid("page token is not valid", Reason.INVALID_PAGE_TOKEN, "pageToken")


_MONEY = {
    Op.MONEY_DEPOSIT: "DEPOSIT",
    Op.MONEY_WITHDRAW: "WITHDRAWAL",
    Op.MONEY_BONUS: "BONUS",
    Op.MONEY_ADJUST: "ADJUSTMENT",
}


class AccountsDesk:
    """Account administration and balance operations, each through the gate."""

    def __init__(
        self, gate: Gate, oms: OmsClient, withdrawals: WithdrawalsDesk | None = None
    ) -> None:
        self._gate = gate
        self._oms = oms
        self._withdrawals = withdrawals

    # --- reads -----------------------------------------------------------------------------------

    async def _info(self, account_id: str) -> dict[str, Any]:
        """The account's facts for an audit 'before' (404 from oms for an unknown account)."""
        summary = await self._oms.summary(account_id)
        # The id as the query: the account itself, and logins / emails containing those digits.
        accounts = await self._oms.list_accounts(OMS_LIST_LIMIT, query=account_id)
        info = next((a for a in accounts if a.account_id == account_id), None)
        doc = account_to_json(info) if info is not None else summary_to_json(summary)
        doc["balance"] = fmt(summary.balance)
        doc["status"] = summary.status
        doc["leverage"] = summary.leverage
        return doc

    async def search(
        self, ctx: RequestContext, q: AccountSearch
    ) -> tuple[list[ClientAccount], str]:
        async with self._gate.guard(ctx, Op.ACCOUNTS_LIST):
            size = page_size(q.page_size)
            after = _after_token(q.page_token)
            want_type = choice(q.type, ACCOUNT_TYPES, "type", "INVALID_TYPE") if q.type else ""
            want_status = (
                choice(q.status, ACCOUNT_STATUSES, "status", "INVALID_STATUS") if q.status else ""
            )
            # oms searches (login, email, name, id) and pages; one more tells a next page.
            found = await self._oms.list_accounts(
                size + 1,
                query=q.query.strip(),
                account_type=want_type,
                status=want_status,
                client_group=q.group.strip(),
                after_id=after,
            )
            page = found[:size]
            return page, _token(int(page[-1].account_id)) if len(found) > size else ""

    async def get(
        self, ctx: RequestContext, account_id: str
    ) -> tuple[AccountSummary, list[Position]]:
        async with self._gate.guard(ctx, Op.ACCOUNT_GET, f"account:{account_id}"):
            account_id = account_id_of(account_id)
            summary = await self._oms.summary(account_id)
            return summary, await self._oms.positions(account_id)

    # --- changes ---------------------------------------------------------------------------------

    async def create(self, ctx: RequestContext, cmd: NewAccount) -> ClientAccount:
        async with self._gate.guard(ctx, Op.ACCOUNT_CREATE, f"login:{cmd.username}") as audit:
            audit.details = {
                "username": cmd.username,
                "accountType": cmd.account_type,
                "currency": cmd.currency,
                "leverage": cmd.leverage,
                "marginMode": cmd.margin_mode or None,
                "clientGroup": cmd.client_group or None,
                "initialDeposit": None if cmd.initial_deposit is None else str(cmd.initial_deposit),
            }
            account_type = choice(cmd.account_type, ACCOUNT_TYPES, "accountType", "INVALID_TYPE")
            mode = (
                choice(cmd.margin_mode, MARGIN_MODES, "marginMode", "INVALID_MARGIN_MODE")
                if cmd.margin_mode
                else None
            )
            currency = cmd.currency.strip().upper()
            deposit = None
            if cmd.initial_deposit is not None and str(cmd.initial_deposit).strip():
                deposit = decimal_of(cmd.initial_deposit, "initialDeposit")
                if deposit <= 0:
                    raise invalid(
                        "initialDeposit must be positive", Reason.INVALID_AMOUNT, "initialDeposit"
                    )
                self._check_places(deposit, currency, "initialDeposit")
            account = await self._oms.create_account(
                login=cmd.username,
                password=cmd.password,
                account_type=account_type,
                currency=currency,
                leverage=leverage_of(cmd.leverage),
                margin_mode=mode,
                client_group=cmd.client_group,
                initial_deposit=deposit,
                request_id=request_id_of(ctx.request_id, required=False),
                email=cmd.email.strip(),
                name=cmd.name.strip(),
            )
            audit.target = f"account:{account.account_id}"
            audit.after = account_to_json(account)
            return account

    async def update(
        self, ctx: RequestContext, account_id: str, changes: AccountChanges
    ) -> ClientAccount:
        async with self._gate.guard(ctx, Op.ACCOUNT_UPDATE, f"account:{account_id}") as audit:
            audit.details = {
                k: (str(v) if isinstance(v, Decimal) else v)
                for k, v in {
                    "clientGroup": changes.client_group,
                    "marginCallLevel": changes.margin_call_level,
                    "stopOutLevel": changes.stop_out_level,
                    "negativeBalanceProtection": changes.negative_balance_protection,
                    "maxOpenPositions": changes.max_open_positions,
                    "maxDailyVolume": changes.max_daily_volume,
                }.items()
                if v is not None
            }
            account_id = account_id_of(account_id)
            if not audit.details:
                raise invalid("nothing to change", "NOTHING_TO_UPDATE", "")
            group = None
            if changes.client_group is not None:
                if not changes.client_group.strip():
                    raise invalid("clientGroup must not be empty", "INVALID_GROUP", "clientGroup")
                group = changes.client_group.strip()
            margin_call_level = _decimal_or_none(changes.margin_call_level, "margin_call_level")
            stop_out_level = _decimal_or_none(changes.stop_out_level, "stop_out_level")
            max_daily_volume = _decimal_or_none(changes.max_daily_volume, "max_daily_volume")
            if changes.max_open_positions is not None and changes.max_open_positions < 0:
                raise invalid(
                    "maxOpenPositions must be 0 (no limit) or positive",
                    Reason.INVALID_LIMIT,
                    "maxOpenPositions",
                )
            change = AccountUpdate(
                client_group=group,
                margin_call_level=margin_call_level,
                stop_out_level=stop_out_level,
                negative_balance_protection=changes.negative_balance_protection,
                max_open_positions=changes.max_open_positions,
                max_daily_volume=max_daily_volume,
            )
            audit.before = await self._info(account_id)
            account = await self._oms.update_account(account_id, change)
            audit.after = account_to_json(account)
            return account

    async def set_leverage(
        self, ctx: RequestContext, account_id: str, leverage: int
    ) -> ClientAccount:
        async with self._gate.guard(ctx, Op.ACCOUNT_SET_LEVERAGE, f"account:{account_id}") as audit:
            audit.details = {"leverage": leverage}
            account_id = account_id_of(account_id)
            leverage_of(leverage)
            summary = await self._oms.summary(account_id)
            audit.before = {"leverage": summary.leverage}
            account = await self._oms.update_account(account_id, AccountUpdate(leverage=leverage))
            audit.after = {"leverage": account.leverage}
            return account

    async def set_status(
        self, ctx: RequestContext, op: Op, account_id: str, reason: str
    ) -> ClientAccount:
        """Suspend (ACCOUNT_SUSPEND), activate (ACCOUNT_ACTIVATE) or close (ACCOUNT_CLOSE)."""
        target = {
            Op.ACCOUNT_SUSPEND: "SUSPENDED",
            Op.ACCOUNT_ACTIVATE: "ACTIVE",
            Op.ACCOUNT_CLOSE: "CLOSED",
        }[op]
        async with self._gate.guard(ctx, op, f"account:{account_id}") as audit:
            audit.details = {"status": target, "reason": reason or None}
            account_id = account_id_of(account_id)
            summary = await self._oms.summary(account_id)
            current = summary.status
            balance = fmt(summary.balance)
            audit.before = {"status": current, "balance": balance}
            if current == "CLOSED":
                raise FailedPrecondition("the account is closed", reason=Reason.ACCOUNT_CLOSED)
            if current == target:
                raise FailedPrecondition(
                    f"the account is already {target.lower()}",
                    reason=f"ACCOUNT_ALREADY_{target}",
                    metadata={"status": current},
                )
            if target == "CLOSED" and summary.balance != 0:
                raise FailedPrecondition(
                    f"the balance is {balance} {summary.currency}, not zero",
                    reason="BALANCE_NOT_ZERO",
                    metadata={"balance": balance, "currency": summary.currency},
                )
            account = await self._oms.update_account(account_id, AccountUpdate(status=target))
            audit.after = {"status": target, "reason": reason or None}
            return account

    # --- money -----------------------------------------------------------------------------------

    @staticmethod
    def _check_places(amount: Decimal, currency: str, field_name: str) -> None:
        digits = CURRENCY_DIGITS.get(currency, 2)
        if places(amount) > digits:
            raise invalid(
                f"{field_name} has more than {digits} decimal places for {currency}",
                Reason.INVALID_PRECISION,
                field_name,
                max_places=str(digits),
                currency=currency,
            )

    async def book(
        self, ctx: RequestContext, op: Op, req: MoneyRequest
    ) -> Booking | WithdrawalResult:
        """A deposit, withdrawal, bonus or adjustment, once per (account, request id).

        A withdrawal above the approval threshold is not booked: its funds are held in oms and it
        waits PENDING for another admin (``admin.withdrawals``); the answer is then the
        ``WithdrawalResult``. Every other call answers its ``Booking``."""
        ledger_type = _MONEY[op]
        async with self._gate.guard(ctx, op, f"account:{req.account_id}") as audit:
            audit.details = {
                "amount": None if req.amount is None else str(req.amount),
                "method": req.method or None,
                "type": req.adjustment_type or None,
                "reference": req.reference or None,
                "note": req.note or None,
                "reason": req.reason or None,
            }
            account_id = account_id_of(req.account_id)
            request_id = request_id_of(ctx.request_id, required=True)
            amount = decimal_of(req.amount, "amount")
            if op is Op.MONEY_ADJUST:
                kind = choice(
                    req.adjustment_type, ADJUSTMENT_TYPES, "type", "INVALID_ADJUSTMENT_TYPE"
                )
                if amount == 0:
                    raise invalid("an adjustment must not be zero", Reason.INVALID_AMOUNT, "amount")
                if not req.reason.strip():
                    raise invalid("an adjustment needs a reason", "MISSING_REASON", "reason")
                label, text = kind, req.reason.strip()
            else:
                if amount <= 0:
                    raise invalid(
                        f"a {ledger_type.lower()} must be positive", Reason.INVALID_AMOUNT, "amount"
                    )
                required = op in (Op.MONEY_DEPOSIT, Op.MONEY_WITHDRAW)
                label = (
                    choice(req.method, PAYMENT_METHODS, "method", Reason.INVALID_METHOD)
                    if required or req.method
                    else ""
                )
                text = req.note.strip()
            summary = await self._oms.summary(account_id)
            audit.before = {"balance": fmt(summary.balance), "currency": summary.currency}
            self._check_places(amount, summary.currency, "amount")
            if (
                op is Op.MONEY_WITHDRAW
                and self._withdrawals is not None
                and self._withdrawals.needs_approval(amount)
            ):
                return await self._withdrawals.hold_for_approval(
                    ctx,
                    audit,
                    account_id=account_id,
                    amount=amount,
                    currency=summary.currency,
                    method=label,
                    reference=req.reference.strip(),
                    note=text[:500],
                    request_id=request_id,
                )
            # The ledger keeps the method (or the adjustment's type) in its own column.
            booked = await self._oms.post_balance_operation(
                account_id=account_id,
                entry_type=ledger_type,
                amount=amount,
                request_id=request_id,
                reference=req.reference.strip(),
                note=text[:500],
                method=label,
            )
            audit.after = {
                **ledger_to_json(booked.entry),
                "method": label if op is not Op.MONEY_ADJUST else None,
                "adjustmentType": label if op is Op.MONEY_ADJUST else None,
                "replayed": booked.replayed,
            }
            return booked
