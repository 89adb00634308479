"""The reasons that cross a service boundary, declared once: ``Reason``.

A reason is the UPPER_SNAKE word a client sees as a REJECTED order's ``rejectReason``, as the
``reason`` of a ``google.rpc.ErrorInfo`` (``fxmesh.errors``) and as the ``code`` of an HTTP error.
``Reason`` is a ``StrEnum`` whose values are its names, so a member is the very string on the wire
(protobuf fields, ErrorInfo, event JSON, PostgreSQL rows, metric labels) and compares equal to it.

Which reasons live here (the rule): a reason that more than one package names. That is

* every reason an execution can end with, as it travels bbook / fixgw -> router -> oms -> client
  (``ExecuteResponse.reject_reason``, ``ExecuteOrderResponse.reject_reason``, the ErrorInfo of
  Execute / ReconcileExecution), since oms and edge act on some of them;
* every reason of oms (or fixgw) that edge reads: edge's MetaTrader retcode table
  (``edge.routes.trade.RETCODE_BY_REASON``) and its field-by-field retcodes;
* a check a front service repeats before calling the service behind it, so that the client gets
  one code whoever caught the problem: edge before oms and quotes (ids, time ranges, timeframes,
  decimals), admin before oms (amounts, leverage, limits, request ids), router and fixgw on the
  same execution fields.

A reason raised and named by one package only stays a local constant there (router's routing
reasons, oms's ``ACCOUNT_NOT_FOUND`` or ``REMAINDER_CANCELLED``, admin's password rules, edge's
rate limits and token causes, fixgw's health flags); it moves here the day a second package
names it. ``tests/unit/fxmesh/test_runtime_reasons.py`` fails when a service spells one of these
values as a string literal again.

A reason says what is wrong, not how it travels: the same reason can be a REJECTED order's on the
order path and an error of an RPC elsewhere, with the gRPC code that RPC's own convention gives
it (the HTTP status follows the code, ``fxmesh.http``). edge answers its own request-shape checks
422 (``edge.schemas.VALIDATION_CODES``), where oms answers the same reason 400. Where one reason
comes with different codes today, its line below says so; those are kept, because the HTTP status
a client sees would change.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A reason shared between services; value == name, exactly the string on the wire."""

    # --- execution: bbook, the router's A-book desk, fixgw; answered to oms, kept on the order --
    NO_QUOTE = "NO_QUOTE"
    """No current client quote (or no rate to convert a value). bbook / A-book desk and oms's
    validation: REJECTED order. As an error: INVALID_ARGUMENT (400) from CalculateLot and
    PreviewMargin, whose every unusable input is INVALID_ARGUMENT; FAILED_PRECONDITION (409) from
    CloseBy, a withdrawal and edge's ``GET /api/risk/calculate-lot`` sizing a pip. Not unified:
    the HTTP status is client-visible (tests pin both)."""
    QUOTE_STALE = "QUOTE_STALE"
    """bbook: the quote is older than the symbol's maximum quote age; no fill."""
    LIMIT_NOT_REACHED = "LIMIT_NOT_REACHED"
    """bbook, or the A-book desk for an LP's expired IOC: the price is beyond a pending order's
    limit. oms re-arms the order (FILLING -> WORKING) instead of rejecting it."""
    PRICE_DEVIATION_EXCEEDED = "PRICE_DEVIATION_EXCEEDED"
    """bbook / A-book desk: the price moved further from the requested price than allowed."""
    BOOK_UNAVAILABLE = "BOOK_UNAVAILABLE"
    """bbook: B-book execution is switched off for the symbol (``router.bbook_symbol_settings``)."""
    NO_LIQUIDITY = "NO_LIQUIDITY"
    """fixgw: no healthy LP can take the order; the A-book desk then tries the symbol's list."""
    LP_REJECTED = "LP_REJECTED"
    """fixgw: the LP rejected the order (35=8 Rejected, 35=j or 35=3); its text is the message."""
    LP_EXPIRED = "LP_EXPIRED"
    """fixgw: the LP cancelled / expired the order (IOC / FOK not marketable)."""
    LP_CANCELLED = "LP_CANCELLED"
    """fixgw: cancelled at fxmesh's request (CancelLpOrder)."""
    LP_TIMEOUT = "LP_TIMEOUT"
    """fixgw: no answer in time; cancelled, unknown to the LP, or still held."""
    LP_UNAVAILABLE = "LP_UNAVAILABLE"
    """fixgw: the LP's session refused to send the NewOrderSingle."""
    ORDER_FENCED = "ORDER_FENCED"
    """fixgw, GetOrderStatus NOT_FOUND: the order id was fenced before any execution."""
    ORDERS_DISABLED = "ORDERS_DISABLED"
    """fixgw, UNAVAILABLE: order execution is not enabled in this gateway."""
    ORDER_MISMATCH = "ORDER_MISMATCH"
    """A retried call names another order than the one filled or sent under its id: router
    FAILED_PRECONDITION (Execute), fixgw INVALID_ARGUMENT (ExecuteOrder). A bug between services,
    never a client's doing; the two codes are left as they are."""
    NOT_EXECUTED = "NOT_EXECUTED"
    """router, ReconcileExecution: it never executed the order (fenced now); oms rejects the order
    EXECUTION_UNAVAILABLE."""
    ORDER_ABANDONED = "ORDER_ABANDONED"
    """router: an Execute of an order id that ReconcileExecution fenced; oms has given it up."""
    EXECUTION_PENDING = "EXECUTION_PENDING"
    """router, UNAVAILABLE: the A-book outcome is not known yet; oms asks ReconcileExecution."""
    EXECUTION_REJECTED = "EXECUTION_REJECTED"
    """oms: the venue rejected without a reason, or none of its fills was new."""
    EXECUTION_UNAVAILABLE = "EXECUTION_UNAVAILABLE"
    """oms: the router gave no answer, or answered NOT_EXECUTED."""

    # --- oms's checks of an order, a close or a modification -------------------------------------
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    """oms, quotes: no such symbol. A REJECTED order when placing; elsewhere NOT_FOUND or
    INVALID_ARGUMENT by the RPC (404 from ListSymbols and /api/ohlc, 400 from the calculators)."""
    SYMBOL_DISABLED = "SYMBOL_DISABLED"
    """oms: trading in the symbol is disabled (opening orders only)."""
    SYMBOL_NOT_FOUND = "SYMBOL_NOT_FOUND"
    """oms's symbol administration, admin: no such symbol to read or change (NOT_FOUND, 404)."""
    SYMBOL_ALREADY_EXISTS = "SYMBOL_ALREADY_EXISTS"
    """oms's symbol administration, admin: creating a symbol that exists (ALREADY_EXISTS, 409)."""
    MARKET_CLOSED = "MARKET_CLOSED"
    """oms: outside the symbol's trading sessions."""
    ACCOUNT_NOT_ACTIVE = "ACCOUNT_NOT_ACTIVE"
    """oms: the account is suspended (no opening) or closed (no trading)."""
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    """oms, admin: the account is closed, which is final (PERMISSION_DENIED at a client login)."""
    ACCOUNT_NOT_FLAT = "ACCOUNT_NOT_FLAT"
    """oms: an account with open positions or orders, or funds held for a withdrawal, is not closed."""
    VOLUME_TOO_SMALL = "VOLUME_TOO_SMALL"
    """oms: volume below the symbol's minimum."""
    VOLUME_TOO_LARGE = "VOLUME_TOO_LARGE"
    """oms: volume above the symbol's maximum, or above what is open to close."""
    VOLUME_STEP = "VOLUME_STEP"
    """oms: volume is not a multiple of the symbol's step."""
    INVALID_PRICE = "INVALID_PRICE"
    """oms: a pending order's price is missing or on the wrong side of the market."""
    INVALID_STOPS = "INVALID_STOPS"
    """oms: a stop loss, take profit or trailing distance on the wrong side or too close."""
    INVALID_STOP_LOSS = "INVALID_STOP_LOSS"
    """oms's lot calculator: the stop loss distance is not usable."""
    STOP_LOSS_WRONG_SIDE = "STOP_LOSS_WRONG_SIDE"
    """oms's lot calculator: the stop loss is on the wrong side of the entry price."""
    INVALID_EXPIRATION = "INVALID_EXPIRATION"
    """oms: the time in force does not fit the order type, or the expire time is missing or past."""
    INVALID_DEVIATION = "INVALID_DEVIATION"
    """oms: a negative deviation."""
    NOT_ENOUGH_MONEY = "NOT_ENOUGH_MONEY"
    """oms: the order's margin and commission exceed the free margin."""
    NOT_ENOUGH_FREE_MARGIN = "NOT_ENOUGH_FREE_MARGIN"
    """oms: a withdrawal larger than free margin allows."""
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    """oms: capturing a withdrawal hold whose amount the balance no longer covers."""
    HOLD_NOT_FOUND = "HOLD_NOT_FOUND"
    """oms: no such funds hold of this account."""
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    """oms: the hold was already released (no capture) or captured (no release)."""
    MAX_POSITIONS = "MAX_POSITIONS"
    """oms: the account's limit of open positions is reached."""
    MAX_DAILY_VOLUME = "MAX_DAILY_VOLUME"
    """oms: the account's daily volume limit would be exceeded."""
    MAX_POSITION_SIZE = "MAX_POSITION_SIZE"
    """oms: the order (or the netting position it grows) is above the risk settings' maximum
    position size for the account's group."""
    POSITION_CLOSING = "POSITION_CLOSING"
    """oms: the position is already being closed."""
    CLOSE_BY_NOT_ALLOWED = "CLOSE_BY_NOT_ALLOWED"
    """oms: close-by needs a hedging account and two opposite positions of one symbol."""
    SAME_POSITION = "SAME_POSITION"
    """oms: a position cannot be closed by itself."""

    # --- orders and positions as they stand ------------------------------------------------------
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    """oms: no such order of this account."""
    ORDER_NOT_MODIFIABLE = "ORDER_NOT_MODIFIABLE"
    """oms: only a working order changes (and an activated stop-limit keeps its stop price)."""
    ORDER_NOT_CANCELLABLE = "ORDER_NOT_CANCELLABLE"
    """oms: only a working order is cancelled."""
    POSITION_NOT_FOUND = "POSITION_NOT_FOUND"
    """oms: no such position of this account."""
    POSITION_NOT_OPEN = "POSITION_NOT_OPEN"
    """oms: the position is closed already."""
    NO_CHANGES = "NO_CHANGES"
    """oms (a modification), admin (an admin user's update): the request changes nothing."""
    CLIENT_ORDER_ID_REUSED = "CLIENT_ORDER_ID_REUSED"
    """oms: a close's client order id belongs to an order that closes no position."""
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    """oms: a balance operation's request id was used for a different operation."""

    # --- request fields: the service, or the one in front of it, checks them the same way --------
    MISSING_FIELD = "MISSING_FIELD"
    """A required field is empty (``fxmesh.money``, oms, router, quotes, admin)."""
    INVALID_FIELD = "INVALID_FIELD"
    """oms: a field's value is not allowed (negative magic, long comment, a stop-limit price on
    another type)."""
    INVALID_DECIMAL = "INVALID_DECIMAL"
    """Not a finite decimal, or not positive where it must be (``fxmesh.money``, edge, admin)."""
    INVALID_PRECISION = "INVALID_PRECISION"
    """More decimal places than the symbol or currency has (``fxmesh.money``, oms, admin)."""
    INVALID_SIDE = "INVALID_SIDE"
    """router, fixgw: the side is neither BUY nor SELL."""
    INVALID_SYMBOL = "INVALID_SYMBOL"
    """fixgw: an ExecuteOrder without a symbol."""
    INVALID_ACCOUNT_ID = "INVALID_ACCOUNT_ID"
    """oms, fixgw, admin: the account id is missing or not digits."""
    INVALID_ORDER_ID = "INVALID_ORDER_ID"
    """oms, fixgw; edge (422) for a path id that is not digits."""
    INVALID_POSITION_ID = "INVALID_POSITION_ID"
    """oms; edge (422) for a path id that is not digits."""
    INVALID_CLIENT_ORDER_ID = "INVALID_CLIENT_ORDER_ID"
    """oms: a client order id (or a close-all request id) is longer than allowed."""
    INVALID_REQUEST_ID = "INVALID_REQUEST_ID"
    """oms, admin: a balance operation's request id is too long."""
    INVALID_METHOD = "INVALID_METHOD"
    """oms, admin: a balance operation's method is not one of the known UPPER_SNAKE names."""
    INVALID_AMOUNT = "INVALID_AMOUNT"
    """oms, admin: a money amount is zero or has the wrong sign for its type."""
    INVALID_LEVERAGE = "INVALID_LEVERAGE"
    """oms, admin: leverage outside 1..500."""
    INVALID_LIMIT = "INVALID_LIMIT"
    """oms, admin: an account's position or daily volume limit is negative."""
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    """oms, admin: a page token this service did not issue."""
    INVALID_TIME_RANGE = "INVALID_TIME_RANGE"
    """oms, router (what-if), admin; edge (422): ``from`` is not before ``to``."""
    INVALID_TIMEFRAME = "INVALID_TIMEFRAME"
    """quotes; edge (422): not one of the candle timeframes."""
    LIMIT_OUT_OF_RANGE = "LIMIT_OUT_OF_RANGE"
    """quotes; edge (422): a listing's ``limit`` outside its bounds."""
    ROUTER_STANDBY = "ROUTER_STANDBY"
    """router, UNAVAILABLE: this replica is the standby (another one leads); try the leader."""
    WHATIF_INVALID = "WHATIF_INVALID"
    """router, admin (400): a routing what-if proposal the configuration tables refuse (a bad
    book, ratio, reason or bound, two rows for one scope)."""

    # --- LP administration: fixgw's LP RPCs, admin's /admin/lps in front of them ----------------
    LP_NOT_FOUND = "LP_NOT_FOUND"
    """fixgw, admin: no such LP (NOT_FOUND, 404)."""
    LP_EXISTS = "LP_EXISTS"
    """fixgw, admin: an LP with this id exists already (ALREADY_EXISTS, 409)."""
    LP_SESSION_IN_USE = "LP_SESSION_IN_USE"
    """fixgw, admin: another LP has the same FIX session (SenderCompID -> TargetCompID), or the
    LP still has orders whose fate is not known, so it is not changed or deleted yet
    (FAILED_PRECONDITION, 409)."""
    INVALID_LP_CONFIG = "INVALID_LP_CONFIG"
    """fixgw, admin: an LP definition that is not valid; ``field`` names the culprit
    (INVALID_ARGUMENT, 400)."""
    LP_DISABLED = "LP_DISABLED"
    """fixgw, admin: the LP is disabled, so its session is not connected (FAILED_PRECONDITION,
    409); a disabled LP takes no orders."""

    # --- routing thresholds: router's flow / volatility threshold rows, admin in front ----------
    INVALID_THRESHOLD = "INVALID_THRESHOLD"
    """router, admin (400): a flow or volatility threshold bound out of range (a share outside
    0..1, a negative count or volatility, a non-finite decimal); ``field`` names it."""
    THRESHOLD_NOT_FOUND = "THRESHOLD_NOT_FOUND"
    """router, admin (404): no flow / volatility threshold row for that scope to remove."""
    # --- client group markups: quotes's group markup RPCs, admin's /admin/markups in front -------
    MARKUP_NOT_FOUND = "MARKUP_NOT_FOUND"
    """quotes, admin: the group has no markup of its own on the symbol (NOT_FOUND, 404)."""
    INVALID_MARKUP = "INVALID_MARKUP"
    """quotes, admin: a group markup that is not valid (negative, not a decimal, a percent of 100
    or more, a negative minimum spread, no unit); ``field`` names it (INVALID_ARGUMENT, 422)."""
    INVALID_CLIENT_GROUP = "INVALID_CLIENT_GROUP"
    """quotes, admin: a client group name that is not 1..64 of letters, digits, ``.``, ``_``,
    ``-`` (INVALID_ARGUMENT, 422)."""
