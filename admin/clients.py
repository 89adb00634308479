"""oms, fixgw and router as admin sees them: the RPCs admin calls, answered in admin's domain types.

Each call has the service-wide deadline. A failure comes back as the FxError the other service
raised (``from_rpc_error``), so its status and reason reach admin's caller unchanged (404
``ACCOUNT_NOT_FOUND``, 409 ``ACCOUNT_NOT_FLAT``, 404 ``LP_NOT_FOUND``, ...).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import grpc
from google.protobuf import json_format

from admin import convert
from admin import symbols_convert as sconvert
from admin.domain import (
    AccountSummary,
    AccountUpdate,
    Booking,
    ClientAccount,
    FundsHold,
    LpDefinition,
    LpFeed,
    LpSession,
    MarginWatchEntry,
    OrderRouting,
    Position,
    SymbolExposure,
    TopTraders,
    TradingSummary,
)
from fxmesh.errors import InvalidArgument, from_rpc_error
from fxmesh.money import fmt
from fxmesh.reasons import Reason
from fxmesh.v1 import (
    fixgw_pb2,
    fixgw_pb2_grpc,
    oms_pb2,
    oms_pb2_grpc,
    quotes_pb2,
    quotes_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
    router_whatif_pb2,
    types_pb2,
)

T = TypeVar("T")
if TYPE_CHECKING:  # the async stub types exist in the generated .pyi stubs only
    OmsStub: TypeAlias = oms_pb2_grpc.OmsServiceAsyncStub
    FixgwStub: TypeAlias = fixgw_pb2_grpc.FixGatewayServiceAsyncStub
    RouterStub: TypeAlias = router_pb2_grpc.RouterServiceAsyncStub
    QuotesStub: TypeAlias = quotes_pb2_grpc.QuotesServiceAsyncStub


async def upstream(call: Awaitable[T]) -> T:
    """Await a call to another service; its error comes back as the FxError it raised."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from exc


class OmsClient:
    """Accounts, positions and balance operations in oms (admin owns no account data)."""

    def __init__(self, stub: OmsStub, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    async def list_accounts(
        self,
        limit: int,
        *,
        query: str = "",
        account_type: str = "",
        status: str = "",
        client_group: str = "",
        after_id: int = 0,
    ) -> list[ClientAccount]:
        """Up to ``limit`` accounts by id after ``after_id``, matching the filters (oms searches
        login, email and name for ``query``)."""
        reply = await upstream(
            self._stub.ListAccounts(
                oms_pb2.ListAccountsRequest(
                    page_size=limit,
                    query=query,
                    type=convert.enum_value(types_pb2.AccountType, "ACCOUNT_TYPE_", account_type),
                    status=convert.enum_value(types_pb2.AccountStatus, "ACCOUNT_STATUS_", status),
                    client_group=client_group,
                    page_token=str(after_id) if after_id else "",
                ),
                timeout=self._deadline,
            )
        )
        return [convert.account_from_proto(a) for a in reply.accounts]

    async def trading_summary(self, since: datetime | None) -> TradingSummary:
        """The broker's activity since ``since`` (None: the start of today, UTC)."""
        request = oms_pb2.GetTradingSummaryRequest()
        if since is not None:
            request.since.CopyFrom(convert.timestamp(since))
        reply = await upstream(self._stub.GetTradingSummary(request, timeout=self._deadline))
        return convert.trading_summary_from_proto(reply)

    async def top_traders(self, since: datetime | None, limit: int) -> TopTraders:
        request = oms_pb2.ListTopTradersRequest(limit=limit)
        if since is not None:
            request.since.CopyFrom(convert.timestamp(since))
        reply = await upstream(self._stub.ListTopTraders(request, timeout=self._deadline))
        return convert.top_traders_from_proto(reply)

    async def margin_watch(self, within: str) -> list[MarginWatchEntry]:
        reply = await upstream(
            self._stub.ListMarginWatch(
                oms_pb2.ListMarginWatchRequest(within=within), timeout=self._deadline
            )
        )
        return [convert.margin_watch_from_proto(e) for e in reply.accounts]

    async def summary(self, account_id: str) -> AccountSummary:
        reply = await upstream(
            self._stub.GetAccountSummary(
                oms_pb2.GetAccountSummaryRequest(account_id=account_id), timeout=self._deadline
            )
        )
        return convert.summary_from_proto(reply)

    async def positions(self, account_id: str) -> list[Position]:
        """The account's open positions."""
        reply = await upstream(
            self._stub.ListPositions(
                oms_pb2.ListPositionsRequest(account_id=account_id), timeout=self._deadline
            )
        )
        return [convert.position_from_proto(p) for p in reply.positions]

    async def create_account(
        self,
        *,
        login: str,
        password: str,
        account_type: str,
        currency: str,
        leverage: int,
        margin_mode: str | None,
        client_group: str,
        initial_deposit: Decimal | None,
        request_id: str = "",
        email: str = "",
        name: str = "",
    ) -> ClientAccount:
        reply = await upstream(
            self._stub.CreateAccount(
                oms_pb2.CreateAccountRequest(
                    login=login,
                    password=password,
                    type=convert.enum_value(types_pb2.AccountType, "ACCOUNT_TYPE_", account_type),
                    currency=currency,
                    leverage=leverage,
                    margin_mode=convert.enum_value(
                        types_pb2.MarginMode, "MARGIN_MODE_", margin_mode
                    ),
                    client_group=client_group,
                    initial_deposit=fmt(initial_deposit),
                    request_id=request_id,
                    email=email,
                    name=name,
                ),
                timeout=self._deadline,
            )
        )
        return convert.account_from_proto(reply.account)

    async def update_account(self, account_id: str, change: AccountUpdate) -> ClientAccount:
        """Apply ``change`` (oms's UpdateAccount keeps what is empty, zero, or -1 for the limit)."""
        nbp = change.negative_balance_protection
        request = oms_pb2.UpdateAccountRequest(
            account_id=account_id,
            status=convert.enum_value(types_pb2.AccountStatus, "ACCOUNT_STATUS_", change.status),
            leverage=change.leverage or 0,
            client_group=change.client_group or "",
            margin_call_level=fmt(change.margin_call_level),
            stop_out_level=fmt(change.stop_out_level),
            negative_balance_protection="" if nbp is None else str(nbp).lower(),
            max_open_positions=(
                -1 if change.max_open_positions is None else change.max_open_positions
            ),
            max_daily_volume=fmt(change.max_daily_volume),
        )
        reply = await upstream(self._stub.UpdateAccount(request, timeout=self._deadline))
        return convert.account_from_proto(reply.account)

    async def post_balance_operation(
        self,
        *,
        account_id: str,
        entry_type: str,
        amount: Decimal,
        request_id: str,
        reference: str,
        note: str,
        method: str = "",
    ) -> Booking:
        """Book a DEPOSIT, WITHDRAWAL, BONUS or ADJUSTMENT once per (account, request id)."""
        reply = await upstream(
            self._stub.PostBalanceOperation(
                oms_pb2.PostBalanceOperationRequest(
                    account_id=account_id,
                    type=convert.enum_value(
                        types_pb2.LedgerEntryType, "LEDGER_ENTRY_TYPE_", entry_type
                    ),
                    amount=fmt(amount),
                    request_id=request_id,
                    reference=reference,
                    note=note,
                    method=method,
                ),
                timeout=self._deadline,
            )
        )
        return Booking(convert.ledger_from_proto(reply.entry), reply.replayed)

    async def place_hold(
        self,
        *,
        account_id: str,
        amount: Decimal,
        request_id: str,
        method: str,
        reference: str,
        note: str,
    ) -> FundsHold:
        """Hold funds for a withdrawal awaiting approval, once per (account, request id)."""
        reply = await upstream(
            self._stub.PlaceFundsHold(
                oms_pb2.PlaceFundsHoldRequest(
                    account_id=account_id,
                    amount=fmt(amount),
                    request_id=request_id,
                    method=method,
                    reference=reference,
                    note=note,
                ),
                timeout=self._deadline,
            )
        )
        return convert.hold_from_proto(reply.hold, entry=None, replayed=reply.replayed)

    async def capture_hold(self, account_id: str, hold_id: str) -> FundsHold:
        """Book the hold's WITHDRAWAL ledger row (again: the same row, replayed)."""
        reply = await upstream(
            self._stub.CaptureFundsHold(
                oms_pb2.CaptureFundsHoldRequest(account_id=account_id, hold_id=hold_id),
                timeout=self._deadline,
            )
        )
        entry = convert.ledger_from_proto(reply.entry) if reply.HasField("entry") else None
        return convert.hold_from_proto(reply.hold, entry=entry, replayed=reply.replayed)

    async def release_hold(self, account_id: str, hold_id: str) -> FundsHold:
        """Free the hold's money without booking anything (again: replayed)."""
        reply = await upstream(
            self._stub.ReleaseFundsHold(
                oms_pb2.ReleaseFundsHoldRequest(account_id=account_id, hold_id=hold_id),
                timeout=self._deadline,
            )
        )
        return convert.hold_from_proto(reply.hold, entry=None, replayed=reply.replayed)

    # --- symbols and risk settings (oms owns them; admin.symbols) ----------------------------------

    async def symbol_settings(self, symbol: str = "") -> list[dict[str, Any]]:
        reply = await upstream(
            self._stub.GetSymbolSettings(
                oms_pb2.GetSymbolSettingsRequest(symbol=symbol), timeout=self._deadline
            )
        )
        return [sconvert.symbol_to_json(s) for s in reply.symbols]

    async def upsert_symbol(
        self, symbol: str, values: dict[str, Any], *, create: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Create or change a symbol from JSON fields; (before, after) documents."""
        request = oms_pb2.UpsertSymbolRequest(
            symbol=symbol, change=sconvert.change_from_json(values), create=create
        )
        reply = await upstream(self._stub.UpsertSymbol(request, timeout=self._deadline))
        before = sconvert.symbol_to_json(reply.before) if reply.HasField("before") else None
        return before, sconvert.symbol_to_json(reply.after)

    async def set_symbol_enabled(
        self, symbol: str, enabled: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        reply = await upstream(
            self._stub.SetSymbolEnabled(
                oms_pb2.SetSymbolEnabledRequest(symbol=symbol, enabled=enabled),
                timeout=self._deadline,
            )
        )
        return sconvert.symbol_to_json(reply.before), sconvert.symbol_to_json(reply.after)

    async def risk_settings(self, group: str | None = None) -> list[dict[str, Any]]:
        request = oms_pb2.GetRiskSettingsRequest()
        if group is not None:
            request.client_group = group
        reply = await upstream(self._stub.GetRiskSettings(request, timeout=self._deadline))
        return [sconvert.risk_to_json(r) for r in reply.settings]

    async def set_risk_settings(
        self, group: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        row = sconvert.risk_from_json(group, values)
        reply = await upstream(
            self._stub.SetRiskSettings(
                oms_pb2.SetRiskSettingsRequest(settings=row), timeout=self._deadline
            )
        )
        before = sconvert.risk_to_json(reply.before) if reply.HasField("before") else None
        return before, sconvert.risk_to_json(reply.after)


class QuotesClient:
    """The LP board in quotes."""

    def __init__(self, stub: QuotesStub, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    async def lp_feeds(self, lp: str, symbol: str) -> list[LpFeed]:
        """Every LP feed (or those of ``lp`` / ``symbol``) with its statistics."""
        reply = await upstream(
            self._stub.ListLpStatistics(
                quotes_pb2.ListLpStatisticsRequest(lp=lp, symbol=symbol), timeout=self._deadline
            )
        )
        return [convert.lp_feed_from_proto(f) for f in reply.feeds]


class FixgwClient:
    """The LP sessions in fixgw (one FIX session per LP, named by the LP id)."""

    def __init__(self, stub: FixgwStub, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    async def sessions(self, *, within: float | None = None) -> list[LpSession]:
        """Every LP session; ``within`` bounds the call tighter than the deadline."""
        timeout = self._deadline if within is None else min(self._deadline, within)
        reply = await upstream(
            self._stub.ListSessions(fixgw_pb2.ListSessionsRequest(), timeout=timeout)
        )
        return [convert.lp_session_from_proto(s) for s in reply.sessions]

    async def session(self, name: str) -> LpSession:
        reply = await upstream(
            self._stub.GetSession(fixgw_pb2.GetSessionRequest(name=name), timeout=self._deadline)
        )
        return convert.lp_session_from_proto(reply.session)

    async def connect(self, name: str) -> LpSession:
        reply = await upstream(
            self._stub.Connect(fixgw_pb2.ConnectRequest(name=name), timeout=self._deadline)
        )
        return convert.lp_session_from_proto(reply.session)

    async def disconnect(self, name: str) -> LpSession:
        reply = await upstream(
            self._stub.Disconnect(fixgw_pb2.DisconnectRequest(name=name), timeout=self._deadline)
        )
        return convert.lp_session_from_proto(reply.session)

    async def reconnect(self, name: str) -> LpSession:
        reply = await upstream(
            self._stub.Reconnect(fixgw_pb2.ReconnectRequest(name=name), timeout=self._deadline)
        )
        return convert.lp_session_from_proto(reply.session)

    # LP administration: a change stops / starts the LP's session (bounded by fixgw's stop grace).

    async def create_lp(self, definition: LpDefinition, enabled: bool) -> LpSession:
        request = fixgw_pb2.CreateLpRequest(
            lp=convert.lp_definition_to_proto(definition), enabled=enabled
        )
        reply = await upstream(self._stub.CreateLp(request, timeout=self._deadline))
        return convert.lp_session_from_proto(reply.session)

    async def update_lp(self, definition: LpDefinition) -> LpSession:
        request = fixgw_pb2.UpdateLpRequest(lp=convert.lp_definition_to_proto(definition))
        reply = await upstream(self._stub.UpdateLp(request, timeout=self._deadline))
        return convert.lp_session_from_proto(reply.session)

    async def delete_lp(self, name: str) -> LpSession:
        request = fixgw_pb2.DeleteLpRequest(name=name)
        reply = await upstream(self._stub.DeleteLp(request, timeout=self._deadline))
        return convert.lp_session_from_proto(reply.session)

    async def set_lp_enabled(self, name: str, enabled: bool) -> LpSession:
        request = fixgw_pb2.SetLpEnabledRequest(name=name, enabled=enabled)
        reply = await upstream(self._stub.SetLpEnabled(request, timeout=self._deadline))
        return convert.lp_session_from_proto(reply.session)


class RouterClient:
    """The house book in router."""

    def __init__(self, stub: RouterStub, deadline: float) -> None:
        self._stub = stub
        self._deadline = deadline

    async def house_exposure(self) -> list[SymbolExposure]:
        """The house's net position per symbol."""
        reply = await upstream(
            self._stub.GetHouseExposure(
                router_pb2.GetHouseExposureRequest(), timeout=self._deadline
            )
        )
        return [convert.exposure_from_proto(e) for e in reply.exposures]

    async def what_if(self, request: dict[str, Any]) -> dict[str, Any]:
        """Router's WhatIf, request and answer in their JSON form (INVALID_ARGUMENT
        WHATIF_INVALID for a body that is not a WhatIfRequest). A replay can take a while: twice
        the deadline."""
        try:
            message = json_format.ParseDict(request, router_whatif_pb2.WhatIfRequest())
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"not a what-if request: {exc}", reason=Reason.WHATIF_INVALID
            ) from None
        reply = await upstream(self._stub.WhatIf(message, timeout=self._deadline * 2))
        return what_if_json(reply)

    async def order_routing(self, order_id: str) -> OrderRouting:
        """Router's recorded routing decision of an order (NOT_FOUND for an unknown one)."""
        reply = await upstream(
            self._stub.Explain(router_pb2.ExplainRequest(order_id=order_id), timeout=self._deadline)
        )
        return convert.routing_from_proto(reply)


def what_if_json(reply: router_whatif_pb2.WhatIfResponse) -> dict[str, Any]:
    """Router's WhatIfResponse in its JSON form (every field, defaults included)."""
    doc: dict[str, Any] = json_format.MessageToDict(
        reply, always_print_fields_with_no_presence=True
    )
    return doc
