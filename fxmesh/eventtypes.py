"""The account events, defined once: their types, their payloads and the envelope around them.

oms produces them (``oms.domain.events`` fills the payloads, its outbox wraps each in an envelope
inside the transaction that caused it); ``fxmesh.events`` carries them over RabbitMQ; edge forwards
the client ones to the account's WebSocket connections. This module is pure (no I/O), so oms's
domain can import it.

The payloads are TypedDicts: plain dicts at run time, so nothing is validated or copied on the hot
path (oms writes several events per order), while mypy checks that a producer fills every key with
the right type. Their keys and value types ARE the wire format: camelCase; decimals as plain
strings (``fxmesh.money.fmt``, "" for none); times ISO 8601 UTC with ``Z`` ("" for none); ids as
decimal strings. A consumer reads what the wire carries, which may come from another version: it
reads payloads with ``.get``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypedDict, cast, get_args, get_origin, get_type_hints, is_typeddict

__all__ = [
    "CLIENT_EVENT_TYPES",
    "PAYLOADS",
    "AccountData",
    "Envelope",
    "EventData",
    "EventType",
    "FillData",
    "MalformedEvent",
    "MarginCallData",
    "OrderData",
    "OrderFilledData",
    "OrderRejectedData",
    "PositionData",
    "dump_envelope",
    "new_envelope",
    "parse_envelope",
    "parse_events",
    "payload_problems",
]


class EventType(StrEnum):
    """Every kind of event; the value is the envelope's ``type`` (and the first part of the routing
    key of an event in the older one-event-per-message form)."""

    ORDER_UPDATE = "order_update"
    """An order was created or changed (working, modified, triggered, cancelled, expired...)."""
    ORDER_FILLED = "order_filled"
    """An order got fills: the order, its fills and the positions they opened or changed."""
    ORDER_REJECTED = "order_rejected"
    """An order was rejected (its reason code in ``rejectReason``)."""
    POSITION_UPDATE = "position_update"
    """A position was opened, changed or closed."""
    ACCOUNT_UPDATE = "account_update"
    """The balance or the live figures changed (``reason`` says why)."""
    MARGIN_CALL = "margin_call"
    """The margin level fell below the margin-call level (once per crossing)."""
    MARGIN_CALL_CLEARED = "margin_call_cleared"
    """The margin level is back at or above the margin-call level."""


# Explicit rather than "all of them": an event type added later (back office, internal) reaches no
# client until someone decides it should, here.
CLIENT_EVENT_TYPES: frozenset[EventType] = frozenset(
    {
        EventType.ORDER_UPDATE,
        EventType.ORDER_FILLED,
        EventType.ORDER_REJECTED,
        EventType.POSITION_UPDATE,
        EventType.ACCOUNT_UPDATE,
        EventType.MARGIN_CALL,
        EventType.MARGIN_CALL_CLEARED,
    }
)
"""The events a client may see on its WebSocket; anything else on the exchange never reaches one."""


class OrderData(TypedDict):
    """An order: the ``order_update`` payload, and ``order`` in order_filled and order_rejected."""

    orderId: str
    accountId: str
    clientOrderId: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT | STOP | STOP_LIMIT
    timeInForce: str
    volume: str
    filledVolume: str
    price: str
    requestedPrice: str
    deviationPoints: int
    averageFillPrice: str
    status: str
    rejectReason: str
    rejectMessage: str
    book: str  # A | B | C, "" before routing
    stopLoss: str
    takeProfit: str
    stopLimitPrice: str
    stopLimitActive: bool
    expireTime: str
    positionId: str  # a closing order: the position it closes
    origin: str
    createTime: str
    updateTime: str


class FillData(TypedDict):
    """One fill of an order, in ``order_filled``."""

    fillId: str
    price: str
    volume: str
    book: str
    venue: str  # BBOOK or an LP session
    fillTime: str


class PositionData(TypedDict):
    """A position, open or closed: the ``position_update`` payload, and in ``order_filled``."""

    positionId: str
    accountId: str
    symbol: str
    side: str
    volume: str
    openPrice: str
    stopLoss: str
    takeProfit: str
    trailingDistancePoints: int
    trailingStepPoints: int
    commission: str
    swap: str
    realizedPnl: str
    openTime: str
    orderId: str  # the order that opened it
    state: str  # OPEN | CLOSED
    closePrice: str
    closeTime: str
    closeReason: str
    currentPrice: str  # "" when closed or not marked
    profit: str  # "" when closed or not marked


class AccountData(TypedDict):
    """Balance and live figures in the account currency: the ``account_update`` payload."""

    accountId: str
    currency: str
    balance: str
    equity: str
    margin: str
    freeMargin: str
    marginLevel: str  # percent; "" without margin in use
    unrealizedPnl: str
    reason: str  # why: ORDER_FILLED, DEPOSIT, SWAP, MARGIN_CALL, ...


class MarginCallData(AccountData):
    """The ``margin_call`` / ``margin_call_cleared`` payload: the figures and the levels crossed."""

    marginCallLevel: str
    stopOutLevel: str


class OrderFilledData(TypedDict):
    """The ``order_filled`` payload: the order, the fills applied now, the positions touched."""

    order: OrderData
    fills: list[FillData]
    positions: list[PositionData]


class OrderRejectedData(TypedDict):
    """The ``order_rejected`` payload."""

    order: OrderData


EventData = OrderData | OrderFilledData | OrderRejectedData | PositionData | AccountData

PAYLOADS: Mapping[EventType, type[EventData]] = MappingProxyType(
    {
        EventType.ORDER_UPDATE: OrderData,
        EventType.ORDER_FILLED: OrderFilledData,
        EventType.ORDER_REJECTED: OrderRejectedData,
        EventType.POSITION_UPDATE: PositionData,
        EventType.ACCOUNT_UPDATE: AccountData,
        EventType.MARGIN_CALL: MarginCallData,
        EventType.MARGIN_CALL_CLEARED: MarginCallData,
    }
)
"""The payload (``data``) of each event type."""


class Envelope(TypedDict):
    """One event as published (in a message of its account's events, ``fxmesh.events``);
    consumers dedupe on eventId."""

    eventId: str  # a UUID
    type: str  # an EventType value (a consumer may meet types it does not know)
    accountId: str
    occurredAt: str  # ISO 8601 UTC, milliseconds, ``Z``
    data: EventData


class MalformedEvent(ValueError):
    """A message that is not an event envelope."""


def new_envelope(event_type: EventType, account_id: int | str, data: EventData) -> Envelope:
    """An event of ``account_id`` raised now, with a new event id."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventId": str(uuid.uuid4()),
        "type": event_type.value,
        "accountId": str(account_id),
        "occurredAt": now,
        "data": data,
    }


def dump_envelope(envelope: Envelope) -> str:
    """The envelope's JSON as written to the outbox and published: compact, keys as built."""
    return json.dumps(envelope, separators=(",", ":"))


_REQUIRED = ("eventId", "type", "accountId")


def parse_envelope(body: bytes | str) -> Envelope:
    """An envelope from its JSON: an object with at least eventId, type and accountId.

    Raises ``MalformedEvent`` otherwise. Neither ``data`` nor the type is checked: a consumer
    decides what it does with types and payloads it does not know.
    """
    try:
        doc = json.loads(body)
    except ValueError as exc:  # bad JSON, bad UTF-8
        raise MalformedEvent(str(exc)) from exc
    if not isinstance(doc, dict) or any(key not in doc for key in _REQUIRED):
        raise MalformedEvent("not an event envelope")
    return cast(Envelope, doc)


def parse_events(body: bytes | str) -> list[Envelope]:
    """The envelopes of one message: a JSON array of envelopes (``fxmesh.events.publish_batch``,
    what oms publishes: one message per account per relay pass), or one envelope (the older form,
    one message per event, still read so a queue filled before an upgrade drains).

    Raises ``MalformedEvent`` when the body or any element is not an envelope: a message is
    written whole by one producer, so one bad element means the message cannot be trusted.
    """
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise MalformedEvent(str(exc)) from exc
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if not isinstance(item, dict) or any(key not in item for key in _REQUIRED):
            raise MalformedEvent("not an event envelope")
    return cast(list[Envelope], items)


def payload_problems(event_type: EventType, data: object) -> list[str]:
    """What in ``data`` differs from ``event_type``'s payload type (``[]``: it conforms).

    Missing and unexpected keys and values of the wrong type, nested payloads included. It walks
    the whole payload: for tests and tools, never for the hot path.
    """
    return _problems(PAYLOADS[event_type], data, "data")


def _problems(hint: Any, value: object, where: str) -> list[str]:
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        fields = get_type_hints(hint)
        found = [f"{where}.{key}: missing" for key in fields if key not in value]
        found += [f"{where}.{key}: unexpected" for key in value if key not in fields]
        for key, field in fields.items():
            if key in value:
                found += _problems(field, value[key], f"{where}.{key}")
        return found
    if get_origin(hint) is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        (item,) = get_args(hint)
        return [p for i, v in enumerate(value) for p in _problems(item, v, f"{where}[{i}]")]
    # Exact types: a bool is not an int, and a number is not a decimal string.
    return [] if type(value) is hint else [f"{where}: {type(value).__name__}, not {hint.__name__}"]
