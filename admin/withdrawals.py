"""Withdrawals awaiting approval: four eyes over money leaving the broker.

A withdrawal above ``FXMESH_ADMIN_WITHDRAWAL_APPROVAL_ABOVE`` (account currency) is not booked when
asked: oms holds its funds (``PlaceFundsHold``: off the free margin, so neither withdrawable twice
nor tradable away) and admin keeps it PENDING in ``admin.withdrawals``. Another ADMIN or
SUPER_ADMIN than the requester approves it (oms captures the hold: the WITHDRAWAL ledger row with
the method; ``FOUR_EYES_REQUIRED`` for the requester) or rejects it with a reason (oms releases
the hold; nothing booked). A decided withdrawal is not decided again
(``WITHDRAWAL_ALREADY_DECIDED``), except that the same admin repeating their own decision gets the
same answer (``replayed``): oms's capture and release are idempotent too, so a retry never books
twice. An approval oms refuses for a business reason (the balance no longer covers the amount)
ends FAILED with that code and the hold released.

Every call runs through the gate (one audit row with before / after and the outcome).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from admin import withdrawal_store as store
from admin.accounts import account_id_of, choice, invalid, page_size
from admin.clients import OmsClient
from admin.documents import ledger_to_json, withdrawal_to_json
from admin.domain import (
    RequestContext,
    Withdrawal,
    WithdrawalResult,
    WithdrawalStatus,
)
from admin.gate import AuditDraft, Gate
from admin.permissions import Op
from fxmesh.errors import FailedPrecondition, NotFound, PermissionDenied
from fxmesh.money import fmt
from fxmesh.reasons import Reason

FOUR_EYES_REQUIRED = "FOUR_EYES_REQUIRED"
WITHDRAWAL_NOT_FOUND = "WITHDRAWAL_NOT_FOUND"
WITHDRAWAL_ALREADY_DECIDED = "WITHDRAWAL_ALREADY_DECIDED"
STATUSES = tuple(s.value for s in WithdrawalStatus)
REASON_MAX = 500


def _id_of(value: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise invalid(
            f"withdrawal id must be digits, got {value!r}", "INVALID_WITHDRAWAL_ID", "withdrawalId"
        )
    return int(text)


def _token(withdrawal_id: str) -> str:
    return base64.urlsafe_b64encode(f"w:{withdrawal_id}".encode()).decode().rstrip("=")


def _before(token: str) -> int | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind == "w" and value.isdigit():
            return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise invalid("page token is not valid", Reason.INVALID_PAGE_TOKEN, "pageToken")


def _not_found(withdrawal_id: int) -> NotFound:
    return NotFound(
        f"withdrawal {withdrawal_id} not found",
        reason=WITHDRAWAL_NOT_FOUND,
        metadata={"withdrawal_id": str(withdrawal_id)},
    )


def _already_decided(w: Withdrawal) -> FailedPrecondition:
    return FailedPrecondition(
        f"withdrawal {w.withdrawal_id} is {w.status.value.lower()} already",
        reason=WITHDRAWAL_ALREADY_DECIDED,
        metadata={
            "withdrawal_id": w.withdrawal_id,
            "status": w.status.value,
            "decided_by": w.decided_by or "",
        },
    )


def _mine(w: Withdrawal, status: WithdrawalStatus, username: str) -> bool:
    """The withdrawal ended with this very decision of this admin: a retry, answered the same."""
    return w.status is status and w.decided_by == username


class WithdrawalsDesk:
    """Withdrawals above the threshold: hold and wait, list, approve (four eyes), reject."""

    def __init__(
        self, gate: Gate, db: Any, oms: OmsClient, threshold: Decimal, now: Callable[[], datetime]
    ) -> None:
        self._gate = gate
        self._db = db
        self._oms = oms
        self.threshold = threshold
        self._now = now

    def needs_approval(self, amount: Decimal) -> bool:
        return amount > self.threshold

    # --- asked: hold the funds, keep it pending --------------------------------------------------

    async def hold_for_approval(
        self,
        ctx: RequestContext,
        audit: AuditDraft,
        *,
        account_id: str,
        amount: Decimal,
        currency: str,
        method: str,
        reference: str,
        note: str,
        request_id: str,
    ) -> WithdrawalResult:
        """Within ``money.withdraw``'s guard: hold the funds in oms, keep the withdrawal PENDING.

        The request id makes it idempotent: a retry answers the withdrawal it created (in
        whatever state it is now); the same id for another withdrawal is IDEMPOTENCY_KEY_REUSED.
        """
        asked = (account_id, amount, method, reference, note)
        first = await store.by_request(self._db, request_id)
        if first is None:
            hold = await self._oms.place_hold(
                account_id=account_id,
                amount=amount,
                request_id=request_id,
                method=method,
                reference=reference,
                note=note,
            )
            created = await store.insert(
                self._db,
                account_id=account_id,
                amount=amount,
                currency=currency,
                method=method,
                reference=reference,
                note=note,
                request_id=request_id,
                requested_by=ctx.principal.username,
                hold_id=hold.hold_id,
            )
            if created is not None:
                audit.after = {**withdrawal_to_json(created), "replayed": False}
                return WithdrawalResult(created, None, replayed=False)
            first = await store.by_request(self._db, request_id)  # a concurrent retry won
            assert first is not None
        same = (first.account_id, first.amount, first.method, first.reference, first.note)
        if same != asked:
            raise FailedPrecondition(
                f"request id {request_id!r} asked for withdrawal {first.withdrawal_id}",
                reason=Reason.IDEMPOTENCY_KEY_REUSED,
                metadata={"request_id": request_id, "withdrawal_id": first.withdrawal_id},
            )
        audit.after = {**withdrawal_to_json(first), "replayed": True}
        return WithdrawalResult(first, None, replayed=True)

    # --- reads -----------------------------------------------------------------------------------

    async def search(
        self,
        ctx: RequestContext,
        *,
        status: str = "",
        account_id: str = "",
        requested: int = 0,
        page_token: str = "",
    ) -> tuple[list[Withdrawal], str]:
        """Withdrawals newest first, of a status and / or an account, a page at a time."""
        async with self._gate.guard(ctx, Op.WITHDRAWALS_LIST):
            wanted = (
                WithdrawalStatus(choice(status, STATUSES, "status", "INVALID_STATUS"))
                if status
                else None
            )
            account = account_id_of(account_id) if account_id.strip() else None
            size = page_size(requested)
            found = await store.page(
                self._db,
                status=wanted,
                account_id=account,
                before_id=_before(page_token),
                limit=size + 1,
            )
            page = found[:size]
            return page, _token(page[-1].withdrawal_id) if len(found) > size else ""

    # --- decisions -------------------------------------------------------------------------------

    async def _pending(self, audit: AuditDraft, withdrawal_id: str) -> tuple[int, Withdrawal]:
        wid = _id_of(withdrawal_id)
        w = await store.get(self._db, wid)
        if w is None:
            raise _not_found(wid)
        # As for every money operation: the account's money before the decision.
        summary = await self._oms.summary(w.account_id)
        audit.before = {
            **withdrawal_to_json(w),
            "balance": fmt(summary.balance),
            "held": fmt(summary.held),
        }
        return wid, w

    async def approve(self, ctx: RequestContext, withdrawal_id: str) -> WithdrawalResult:
        """Book a pending withdrawal from its held funds; never the requester's own."""
        me = ctx.principal.username
        async with self._gate.guard(
            ctx, Op.WITHDRAWAL_APPROVE, f"withdrawal:{withdrawal_id}"
        ) as audit:
            wid, w = await self._pending(audit, withdrawal_id)
            if _mine(w, WithdrawalStatus.APPROVED, me):
                return await self._approved_again(audit, w)
            if w.requested_by == me:
                raise PermissionDenied(
                    "four eyes: a withdrawal is approved by another admin than its requester",
                    reason=FOUR_EYES_REQUIRED,
                    metadata={"withdrawal_id": w.withdrawal_id, "requested_by": w.requested_by},
                )
            if w.status is not WithdrawalStatus.PENDING:
                raise _already_decided(w)
            try:
                captured = await self._oms.capture_hold(w.account_id, w.hold_id)
            except FailedPrecondition as exc:
                await self._failed(audit, w, me, exc)
                raise
            assert captured.entry is not None
            done = await store.decide(
                self._db,
                wid,
                WithdrawalStatus.APPROVED,
                me,
                self._now(),
                ledger_id=captured.entry.ledger_id,
            )
            if done is None:  # decided meanwhile by another call
                done = await store.get(self._db, wid)
                assert done is not None
                if not _mine(done, WithdrawalStatus.APPROVED, me):
                    raise _already_decided(done)
            audit.after = {
                **withdrawal_to_json(done),
                "entry": ledger_to_json(captured.entry),
                "replayed": False,
            }
            return WithdrawalResult(done, captured.entry, replayed=False)

    async def _approved_again(self, audit: AuditDraft, w: Withdrawal) -> WithdrawalResult:
        # oms answers a captured hold's capture with the same ledger row, booking nothing.
        captured = await self._oms.capture_hold(w.account_id, w.hold_id)
        audit.after = {
            **withdrawal_to_json(w),
            "entry": ledger_to_json(captured.entry) if captured.entry else None,
            "replayed": True,
        }
        return WithdrawalResult(w, captured.entry, replayed=True)

    async def _failed(
        self, audit: AuditDraft, w: Withdrawal, me: str, exc: FailedPrecondition
    ) -> None:
        """oms refused to book (e.g. INSUFFICIENT_BALANCE): free the funds, end it FAILED.

        A hold a concurrent rejection released already (HOLD_NOT_ACTIVE) stays released; of the
        two decisions, the one written first stands and the other is WITHDRAWAL_ALREADY_DECIDED."""
        wid = int(w.withdrawal_id)
        with contextlib.suppress(FailedPrecondition):
            await self._oms.release_hold(w.account_id, w.hold_id)
        failed = await store.decide(
            self._db, wid, WithdrawalStatus.FAILED, me, self._now(), reason=exc.reason
        )
        if failed is None:
            current = await self._get(wid)
            raise _already_decided(current) from exc
        audit.after = withdrawal_to_json(failed)

    async def _get(self, wid: int) -> Withdrawal:
        w = await store.get(self._db, wid)
        if w is None:
            raise _not_found(wid)
        return w

    async def reject(
        self, ctx: RequestContext, withdrawal_id: str, reason: str
    ) -> WithdrawalResult:
        """Refuse a pending withdrawal with a reason: its held funds are freed, nothing booked."""
        me = ctx.principal.username
        async with self._gate.guard(
            ctx, Op.WITHDRAWAL_REJECT, f"withdrawal:{withdrawal_id}"
        ) as audit:
            audit.details = {"reason": reason or None}
            text = " ".join(reason.split())[:REASON_MAX]
            if not text:
                raise invalid("a rejection needs a reason", "MISSING_REASON", "reason")
            wid, w = await self._pending(audit, withdrawal_id)
            if _mine(w, WithdrawalStatus.REJECTED, me):
                audit.after = {**withdrawal_to_json(w), "replayed": True}
                return WithdrawalResult(w, None, replayed=True)
            if w.status is not WithdrawalStatus.PENDING:
                raise _already_decided(w)
            try:
                await self._oms.release_hold(w.account_id, w.hold_id)
            except FailedPrecondition:  # captured by an approval in flight
                raise _already_decided(await self._get(wid)) from None
            done = await store.decide(
                self._db, wid, WithdrawalStatus.REJECTED, me, self._now(), reason=text
            )
            if done is None:
                done = await self._get(wid)
                if not _mine(done, WithdrawalStatus.REJECTED, me):
                    raise _already_decided(done)
            audit.after = {**withdrawal_to_json(done), "replayed": False}
            return WithdrawalResult(done, None, replayed=False)
