"""Swaps at rollover: every position open at a rollover is charged its symbol's swap once.

The rule (MetaTrader-like, see ``oms.domain.accounting``): the rollover of trading day D happens at
the configured UTC time (default 00:00, i.e. at the end of D); it charges ``swap points x point x
contract size x lots`` per day in the quote currency, converted to the account currency at the
quotes of the moment it runs, three days on the symbol's triple weekday and nothing for Saturday's
and Sunday's rollovers. Each charge is a SWAP ledger row (reference ``rollover YYYY-MM-DD position
N``), ``positions.swap += amount`` and a row in ``oms.swap_charges`` (PK position, rollover date),
all in the account's locked transaction (``UnitOfWork.locked``: the trigger watcher hears the new
balance): running a rollover again, after a crash or on two processes, charges nothing twice.

Positions are those open when the rollover runs that were opened before its instant. A rollover
run late therefore misses positions closed in between (the volume at the instant is not rebuilt
from the deals); the background loop runs on time and catches up the last rollover at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta

import structlog
from prometheus_client import Counter

from fxmesh.background import BackgroundLoop
from fxmesh.errors import FailedPrecondition
from oms.domain import accounting
from oms.domain.model import AccountId, NoConversionRate, PositionId, Price, SymbolSpec
from oms.store import ledger as ledger_store
from oms.store import positions as position_store
from oms.trading.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

SWAPS_CHARGED = Counter(
    "fxmesh_oms_swap_charges_total", "Swap charges booked at rollovers (zero amounts included)."
)
SWAPS_SKIPPED = Counter(
    "fxmesh_oms_swap_skipped_total",
    "Swap charges put off because no quote converted the amount (retried).",
)


@dataclass(slots=True)
class RolloverReport:
    """What one run of a rollover did."""

    day: date
    charged: int = 0  # positions charged (swap_charges rows written), zero amounts included
    skipped: list[PositionId] = field(default_factory=list)  # no conversion rate: retry later
    failed_accounts: list[AccountId] = field(default_factory=list)  # unexpected error: retry

    @property
    def complete(self) -> bool:
        return not self.skipped and not self.failed_accounts


class RolloverJob:
    """Charges swaps at every rollover; ``run_rollover(day)`` may be called any number of times."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        at: time = time(0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        catch_up: bool = True,
        retry_seconds: float = 60.0,
        give_up_after: timedelta = timedelta(days=3),
    ) -> None:
        if at.tzinfo is not None:
            raise ValueError("the rollover time is a naive UTC wall-clock time")
        self._uow = uow
        self._at = at
        self._now = uow.now
        self._sleep = sleep
        self._catch_up = catch_up
        self._retry = retry_seconds
        self._give_up_after = give_up_after
        self._loop = BackgroundLoop("oms-rollover", self._run)

    # --- one rollover ----------------------------------------------------------------------------

    async def run_rollover(self, day: date) -> RolloverReport:
        """Charge the rollover of trading day ``day`` to every position not charged for it yet."""
        instant = accounting.rollover_instant(day, self._at)
        if self._now() < instant:
            raise FailedPrecondition(
                f"the rollover of {day} happens at {instant.isoformat()}",
                reason="ROLLOVER_NOT_DUE",
                metadata={"rollover_date": day.isoformat()},
            )
        report = RolloverReport(day)
        if day.isoweekday() in (accounting.SATURDAY, accounting.SUNDAY):
            return report  # weekend rollovers charge nothing (the triple day covers them)
        symbols, prices = await self._uow.market()
        async with self._uow.pool.acquire() as conn:
            accounts = await ledger_store.accounts_due_swap(conn, instant, day)
        for account_id in accounts:
            try:
                await self._charge_account(account_id, day, symbols, prices, report)
            except Exception:
                log.exception("rollover_account_failed", account_id=account_id, day=str(day))
                report.failed_accounts.append(account_id)
        log.info(
            "rollover",
            day=str(day),
            accounts=len(accounts),
            charged=report.charged,
            skipped=len(report.skipped),
            failed=len(report.failed_accounts),
        )
        return report

    async def _charge_account(
        self,
        account_id: AccountId,
        day: date,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
        report: RolloverReport,
    ) -> None:
        instant = accounting.rollover_instant(day, self._at)
        async with self._uow.locked(account_id) as tx:
            conn, account = tx.conn, tx.account
            # Read after the lock: a concurrent run of the same rollover has committed by now.
            due = await ledger_store.positions_due_swap(conn, account_id, instant, day)
            changed: list[PositionId] = []
            skipped: list[PositionId] = []
            charged = 0
            for p in due:
                spec = symbols.get(p.symbol)
                if spec is None:
                    skipped.append(p.position_id)
                    continue
                days = accounting.swap_days(day, spec.swap_triple_weekday)
                try:
                    amount = accounting.swap_charge(
                        p.side, p.volume, spec, days, account.currency, prices
                    )
                except NoConversionRate as exc:
                    log.warning("swap_no_quote", position_id=p.position_id, error=str(exc))
                    skipped.append(p.position_id)
                    continue
                ledger_id = None
                if amount:
                    entry = await ledger_store.append_ledger(
                        conn,
                        account_id,
                        "SWAP",
                        amount,
                        account.currency,
                        reference=f"rollover {day.isoformat()} position {p.position_id}",
                        note=f"{days} day{'s' if days > 1 else ''} of swap",
                    )
                    ledger_id = entry.ledger_id
                    changed.append(p.position_id)
                await ledger_store.record_swap(conn, p.position_id, day, days, amount, ledger_id)
                charged += 1
            if changed:
                for row in await position_store.open_positions(conn, account_id):
                    if row.position_id in changed:
                        tx.position_changed(row)
                await tx.account_update("SWAP", symbols, prices)
        # Counted once committed: a failed account is retried whole.
        report.charged += charged
        report.skipped += skipped
        SWAPS_CHARGED.inc(charged)
        SWAPS_SKIPPED.inc(len(skipped))

    # --- background loop -------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in the background: catch up the last rollover, then each one on time."""
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _attempt(self, day: date) -> bool:
        try:
            return (await self.run_rollover(day)).complete
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rollover_failed", day=str(day))
            return False

    async def _run(self) -> None:
        now = self._now()
        pending: set[date] = set()
        if self._catch_up:
            pending.add(accounting.last_rollover_day(now, self._at))
        next_day = accounting.next_rollover_day(now, self._at)
        while True:
            now = self._now()
            while accounting.rollover_instant(next_day, self._at) <= now:
                pending.add(next_day)
                next_day += timedelta(days=1)
            for day in sorted(pending):
                if await self._attempt(day):
                    pending.discard(day)
                elif now - accounting.rollover_instant(day, self._at) > self._give_up_after:
                    log.error("rollover_given_up", day=str(day))
                    pending.discard(day)
            wake = accounting.rollover_instant(next_day, self._at)
            wait = (wake - self._now()).total_seconds()
            if pending:
                wait = min(wait, self._retry)
            # Short naps re-read the clock, so a suspended host or a clock step does not oversleep.
            await self._sleep(max(0.0, min(wait, 60.0)))
