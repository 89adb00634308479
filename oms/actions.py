"""What the trigger watcher may ask of the trading core, and what it hears back.

``OmsService`` implements ``TradingActions``. Every action re-checks its condition under the
account's lock with the quote it is given (a stale trigger does nothing), is safe to call twice,
and answers what it did, so the watcher can re-arm an entry whose action was not carried out.
``TradingListener``s registered with ``add_listener`` hear, after each commit, every order,
position and account the trading core changed (from any source: clients, actions, recovery).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oms.core import TradingListener
from oms.domain import Account, AccountId, CloseReason, Order, OrderId, PositionId, Price
from oms.position_store import PositionRow

__all__ = ["TradingActions", "TradingListener", "TriggerState"]


@dataclass(frozen=True, slots=True)
class TriggerState:
    """Everything the trigger books hold, as stored now (loaded once at start)."""

    orders: list[Order]  # every WORKING order (price, stop-limit state, expiry)
    positions: list[PositionRow]  # every open position (SL, TP, trailing distance and step)
    accounts: dict[AccountId, Account]  # the accounts of those positions and orders


class TradingActions(Protocol):
    async def trigger_order(self, order_id: OrderId, quote: Price) -> Order | None:
        """Execute a WORKING order whose price ``quote`` reached (a stop-limit whose stop was
        reached is activated instead). The order afterwards (FILLED, REJECTED, still WORKING...);
        None for an unknown order."""
        ...

    async def activate_stop_limit(self, order_id: OrderId, quote: Price) -> Order | None:
        """A STOP_LIMIT's stop was reached at ``quote``: it works as a limit from now on."""
        ...

    async def expire_order(self, order_id: OrderId) -> Order | None:
        """Expire a WORKING order whose expire time (GTD, or DAY's end of day) has passed."""
        ...

    async def close_for_protection(
        self, position_id: PositionId, reason: CloseReason, quote: Price
    ) -> Order | None:
        """Close a position whose stop loss (``CloseReason.STOP_LOSS``) or take profit
        (``TAKE_PROFIT``) ``quote`` reached. The closing order, or None when nothing was done
        (the position is closed or already closing, or its SL / TP is not reached at ``quote``)."""
        ...

    async def move_trailing_stop(self, position_id: PositionId, stop_loss: Decimal) -> bool:
        """Persist a trailing stop's new SL; False when it does not improve by the step."""
        ...

    async def stop_out(self, account_id: AccountId) -> list[Order]:
        """Close the most losing position first, re-check with current prices, repeat until the
        margin level is back at the stop-out level; then reset a negative balance (if the account's
        policy says so). The closing orders."""
        ...

    async def margin_call(self, account_id: AccountId) -> bool:
        """Recompute the margin level; raise ``margin_call`` once per crossing below the margin
        call level (``margin_call_cleared`` when back). True when a margin call was raised now."""
        ...

    async def load_trigger_state(self) -> TriggerState: ...

    def add_listener(self, listener: TradingListener) -> None: ...
