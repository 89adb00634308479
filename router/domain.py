"""Routing model: rules, decisions and execution outcomes. Pure, no I/O, no protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from bbook import BookFill, Side

if TYPE_CHECKING:
    from router.abook import AbookOrder
    from router.rules import Explanation

DEFAULT_REASON = "DEFAULT_B_BOOK"
BBOOK_VENUE = "BBOOK"


class Book(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Claim(StrEnum):
    """Who settled an order id first: an execution, or oms's reconciliation fencing it off.

    SUBMITTED is an A-book order sent to fixgw whose outcome is not committed yet: it becomes
    EXECUTED with the LP's fills, is deleted when the LPs rejected it (it may be executed again),
    or becomes FENCED when ReconcileExecution learns that no LP filled it.
    """

    EXECUTED = "EXECUTED"
    FENCED = "FENCED"
    SUBMITTED = "SUBMITTED"


@dataclass(frozen=True, slots=True)
class OrderClaim:
    """The committed claim on an order id and the account it was made for."""

    kind: Claim
    account_id: str


class ExecutionStatus(StrEnum):
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    """Recorded only (an A-book order at the LPs, outcome unknown); never an answer."""


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """``client_group`` / ``symbol`` None match anything; lower ``priority`` is tried first."""

    rule_id: int
    priority: int
    client_group: str | None
    symbol: str | None
    book: Book
    reason: str
    c_book_hedge_ratio: Decimal = Decimal(0)
    enabled: bool = True

    def matches(self, client_group: str, symbol: str) -> bool:
        return (
            self.enabled
            and (self.client_group is None or self.client_group == client_group)
            and (self.symbol is None or self.symbol == symbol)
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """Who takes an order's risk and why (``router.rules.route``).

    ``a_volume`` / ``b_volume``: the split between the LPs and the house (both zero for a decision
    recorded before the split existed: the whole volume goes to ``book``); ``level``: the
    precedence level that decided; ``reject_reason``: set when the decision itself rejects the
    order (no healthy LP and the symbol's fallback is REJECT).
    """

    book: Book
    reason: str
    rule_id: int | None = None
    c_book_hedge_ratio: Decimal = Decimal(0)
    a_volume: Decimal = Decimal(0)
    b_volume: Decimal = Decimal(0)
    level: str = ""
    config_version: int | None = None
    reject_reason: str = ""
    explanation: Explanation | None = field(default=None, compare=False)


def decide(rules: Sequence[RoutingRule], client_group: str, symbol: str) -> Decision:
    """The first enabled matching rule by (priority, rule_id); none routes to the B-book."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.rule_id)):
        if rule.matches(client_group, symbol):
            return Decision(rule.book, rule.reason, rule.rule_id, rule.c_book_hedge_ratio)
    return Decision(Book.B, DEFAULT_REASON)


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A decision as recorded for one order, with the order's account and its last outcome."""

    decision: Decision
    account_id: str
    status: ExecutionStatus
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderState:
    """What is committed for one order id: its claim, its recorded decision, its B-book fill and
    its A-book submission."""

    claim: OrderClaim | None = None
    recorded: RecordedDecision | None = None
    fill: BookFill | None = None
    abook: AbookOrder | None = None
    """An A-book order's last submission to fixgw (None for B-book orders)."""
    config_version: int | None = None
    """The newest routing configuration version committed when this was read."""

    @property
    def executed(self) -> bool:
        return self.claim is not None and self.claim.kind is Claim.EXECUTED

    @property
    def submitted(self) -> bool:
        return self.claim is not None and self.claim.kind is Claim.SUBMITTED


@dataclass(frozen=True, slots=True)
class ExecuteCommand:
    """An accepted order to route and execute."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    volume: Decimal
    client_group: str
    contract_size: Decimal
    quote_to_usd_rate: Decimal
    requested_price: Decimal | None = None
    max_price_deviation: Decimal | None = None
    limit_price: Decimal | None = None
    """Worst acceptable fill price: a BUY fills at or below it, a SELL at or above it."""
    trace_id: str | None = None
    close_book: Book | None = None
    """A closing order: the book holding the risk it closes (the close follows it)."""
    close_venue: str = ""
    """A closing order of an A-book position: the LP holding its risk."""
    first_attempt: bool = False
    """oms sends this order id for the first time (it committed the order FILLING just now and
    never retries an Execute): the router need not read what it recorded of the order before a
    B-book fill. Only a saving: the claim still arbitrates, so a wrong True fills nothing twice."""


@dataclass(frozen=True, slots=True)
class ReconcileCommand:
    """oms asks what became of an order it lost track of."""

    order_id: str
    account_id: str
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClientFill:
    """A fill as the client gets it: B-book (venue BBOOK) or A-book (venue the LP)."""

    fill_id: str
    price: Decimal
    volume: Decimal
    book: Book
    venue: str
    fill_time: datetime
    venue_order_id: str = ""
    """The LP's OrderID (37); empty for the B-book."""
    venue_price: Decimal | None = None
    """The LP's price before the markup; None for the B-book."""

    @staticmethod
    def of_bbook(fill: BookFill) -> ClientFill:
        return ClientFill(
            fill_id=fill.fill_id,
            price=fill.price,
            volume=fill.volume,
            book=Book.B,
            venue=BBOOK_VENUE,
            fill_time=fill.filled_at,
        )


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    """The outcome of Execute (or ReconcileExecution); ``book`` is None for a never-routed order."""

    book: Book | None
    routing_reason: str
    status: ExecutionStatus
    fills: tuple[ClientFill, ...] = field(default_factory=tuple)
    reject_reason: str = ""
    reject_message: str = ""


@dataclass(frozen=True, slots=True)
class VenueLeg:
    """What one venue filled of an order: its volume and volume-weighted client price."""

    book: Book
    venue: str
    volume: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class ExplainedDecision:
    """A recorded decision with everything it saw (``RouterService.Explain``)."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    volume: Decimal
    decision: Decision
    status: ExecutionStatus
    reject_reason: str
    decided_at: datetime
    legs: tuple[VenueLeg, ...]
    inputs: tuple[tuple[str, str], ...]
    steps: tuple[tuple[str, str, str], ...]
    """(level, outcome, detail) of each precedence level, in the order evaluated."""
