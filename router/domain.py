"""Routing model: rules, decisions and execution outcomes. Pure, no I/O, no protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from bbook import BookFill, Side

DEFAULT_REASON = "DEFAULT_B_BOOK"
BOOK_UNAVAILABLE = "BOOK_UNAVAILABLE"
# An Execute of an order id that ReconcileExecution fenced (oms gave up on that order).
ORDER_ABANDONED = "ORDER_ABANDONED"
# ReconcileExecution's answer for an order the router never executed (it is fenced from then on).
NOT_EXECUTED = "NOT_EXECUTED"


class Book(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Claim(StrEnum):
    """Who settled an order id first: an execution, or oms's reconciliation fencing it off."""

    EXECUTED = "EXECUTED"
    FENCED = "FENCED"


@dataclass(frozen=True, slots=True)
class OrderClaim:
    """The committed claim on an order id and the account it was made for."""

    kind: Claim
    account_id: str


class ExecutionStatus(StrEnum):
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    REJECTED = "REJECTED"


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
    book: Book
    reason: str
    rule_id: int | None = None
    c_book_hedge_ratio: Decimal = Decimal(0)


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
    """What is committed for one order id: its claim, its recorded decision and its B-book fill."""

    claim: OrderClaim | None = None
    recorded: RecordedDecision | None = None
    fill: BookFill | None = None

    @property
    def executed(self) -> bool:
        return self.claim is not None and self.claim.kind is Claim.EXECUTED


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


@dataclass(frozen=True, slots=True)
class ReconcileCommand:
    """oms asks what became of an order it lost track of."""

    order_id: str
    account_id: str
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    """The outcome of Execute (or ReconcileExecution); ``book`` is None for a never-routed order."""

    book: Book | None
    routing_reason: str
    status: ExecutionStatus
    fills: tuple[BookFill, ...] = field(default_factory=tuple)
    reject_reason: str = ""
    reject_message: str = ""
