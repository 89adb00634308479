"""grpc.aio AdminService: metadata -> request context -> service -> proto. Nothing else.

The role check and the audit row happen in the service (``admin.gate``), as for REST. The service
answers admin's domain types; ``admin.convert`` turns them into the reply messages.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import grpc
from google.protobuf import json_format

from admin import convert
from admin import execution_convert as xconvert
from admin import symbols_convert as sconvert
from admin.accounts import AccountChanges, AccountSearch, MoneyRequest, NewAccount
from admin.audit import AuditFilter
from admin.domain import Booking, RequestContext
from admin.execution_clients import book_split_to_proto, override_to_proto, rule_to_proto
from admin.markups_clients import markup_from_proto, markup_to_proto_full
from admin.permissions import Op
from admin.service import AdminService
from admin.users import UserChanges
from fxmesh.auth import bearer_token
from fxmesh.v1 import admin_execution_pb2 as xpb
from fxmesh.v1 import (
    admin_lps_pb2,
    admin_pb2,
    admin_pb2_grpc,
    admin_routing_pb2,
    admin_symbols_pb2,
    router_whatif_pb2,
    types_pb2,
)
from fxmesh.v1 import admin_markups_pb2 as mpb

Context = grpc.aio.ServicerContext[Any, Any]


def _metadata(context: Context, key: str) -> str:
    for k, value in context.invocation_metadata() or ():
        if k == key:
            return value if isinstance(value, str) else value.decode()
    return ""


def token_from_metadata(context: Context) -> str:
    """The bearer token of the ``authorization`` metadata ('' when absent)."""
    return bearer_token(_metadata(context, "authorization"))


def peer_ip(context: Context) -> str:
    """The caller's address from ``ipv4:1.2.3.4:5678`` / ``ipv6:[::1]:5678``."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[") or rest
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    return "" if value == 0 else str(enum.Name(value)).removeprefix(prefix)


def _filter(f: admin_pb2.AuditFilter) -> AuditFilter:
    return AuditFilter(
        actor=f.actor,
        action=f.action,
        target=f.resource,
        start=convert.from_timestamp(f.from_time, f.HasField("from_time")),
        end=convert.from_timestamp(f.to_time, f.HasField("to_time")),
    )


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, service: AdminService) -> None:
        self._service = service

    async def _ctx(self, context: Context, request_id: str = "") -> RequestContext:
        principal = await self._service.authenticate(token_from_metadata(context))
        return RequestContext(
            principal,
            source_ip=peer_ip(context),
            user_agent=_metadata(context, "user-agent"),
            request_id=request_id or _metadata(context, "x-request-id"),
        )

    async def Login(
        self, request: admin_pb2.LoginRequest, context: Context
    ) -> admin_pb2.LoginResponse:
        result = await self._service.login(
            request.username,
            request.password,
            source_ip=peer_ip(context),
            user_agent=_metadata(context, "user-agent"),
        )
        return admin_pb2.LoginResponse(
            access_token=result.access_token,
            role=convert.role_to_proto(result.role),
            expire_time=convert.timestamp(result.expires_at),
        )

    # --- accounts --------------------------------------------------------------------------------

    async def ListClientAccounts(
        self, request: admin_pb2.ListClientAccountsRequest, context: Context
    ) -> admin_pb2.ListClientAccountsResponse:
        accounts, token = await self._service.accounts.search(
            await self._ctx(context),
            AccountSearch(
                query=request.query,
                type=_enum_name(types_pb2.AccountType, request.type, "ACCOUNT_TYPE_"),
                status=_enum_name(types_pb2.AccountStatus, request.status, "ACCOUNT_STATUS_"),
                group=request.client_group,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
        )
        return admin_pb2.ListClientAccountsResponse(
            accounts=[convert.account_to_proto(a) for a in accounts], next_page_token=token
        )

    async def GetClientAccount(
        self, request: admin_pb2.GetClientAccountRequest, context: Context
    ) -> admin_pb2.GetClientAccountResponse:
        summary, positions = await self._service.accounts.get(
            await self._ctx(context), request.account_id
        )
        return admin_pb2.GetClientAccountResponse(
            summary=convert.summary_to_proto(summary),
            positions=[convert.position_to_proto(p) for p in positions],
        )

    async def CreateClientAccount(
        self, request: admin_pb2.CreateClientAccountRequest, context: Context
    ) -> admin_pb2.CreateClientAccountResponse:
        account = await self._service.accounts.create(
            await self._ctx(context, request.request_id),
            NewAccount(
                username=request.username,
                password=request.password,
                account_type=_enum_name(
                    types_pb2.AccountType, request.account_type, "ACCOUNT_TYPE_"
                ),
                currency=request.currency,
                leverage=request.leverage,
                margin_mode=_enum_name(types_pb2.MarginMode, request.margin_mode, "MARGIN_MODE_"),
                client_group=request.client_group,
                initial_deposit=request.initial_deposit or None,
                email=request.email,
                name=request.name,
            ),
        )
        return admin_pb2.CreateClientAccountResponse(account=convert.account_to_proto(account))

    async def UpdateClientAccount(
        self, request: admin_pb2.UpdateClientAccountRequest, context: Context
    ) -> admin_pb2.UpdateClientAccountResponse:
        nbp = request.negative_balance_protection.strip().lower()
        account = await self._service.accounts.update(
            await self._ctx(context, request.request_id),
            request.account_id,
            AccountChanges(
                client_group=request.client_group or None,
                margin_call_level=request.margin_call_level or None,
                stop_out_level=request.stop_out_level or None,
                negative_balance_protection=None if not nbp else nbp == "true",
                max_open_positions=(
                    request.max_open_positions if request.HasField("max_open_positions") else None
                ),
                max_daily_volume=request.max_daily_volume or None,
            ),
        )
        return admin_pb2.UpdateClientAccountResponse(account=convert.account_to_proto(account))

    async def SetClientLeverage(
        self, request: admin_pb2.SetClientLeverageRequest, context: Context
    ) -> admin_pb2.SetClientLeverageResponse:
        account = await self._service.accounts.set_leverage(
            await self._ctx(context, request.request_id), request.account_id, request.leverage
        )
        return admin_pb2.SetClientLeverageResponse(account=convert.account_to_proto(account))

    async def SuspendClientAccount(
        self, request: admin_pb2.SuspendClientAccountRequest, context: Context
    ) -> admin_pb2.SuspendClientAccountResponse:
        account = await self._service.accounts.set_status(
            await self._ctx(context, request.request_id),
            Op.ACCOUNT_SUSPEND,
            request.account_id,
            request.reason,
        )
        return admin_pb2.SuspendClientAccountResponse(account=convert.account_to_proto(account))

    async def ActivateClientAccount(
        self, request: admin_pb2.ActivateClientAccountRequest, context: Context
    ) -> admin_pb2.ActivateClientAccountResponse:
        account = await self._service.accounts.set_status(
            await self._ctx(context, request.request_id),
            Op.ACCOUNT_ACTIVATE,
            request.account_id,
            request.reason,
        )
        return admin_pb2.ActivateClientAccountResponse(account=convert.account_to_proto(account))

    async def CloseClientAccount(
        self, request: admin_pb2.CloseClientAccountRequest, context: Context
    ) -> admin_pb2.CloseClientAccountResponse:
        account = await self._service.accounts.set_status(
            await self._ctx(context, request.request_id),
            Op.ACCOUNT_CLOSE,
            request.account_id,
            request.reason,
        )
        return admin_pb2.CloseClientAccountResponse(account=convert.account_to_proto(account))

    # --- money -----------------------------------------------------------------------------------

    def _method(self, value: int) -> str:
        return _enum_name(admin_pb2.PaymentMethod, value, "PAYMENT_METHOD_")

    async def Deposit(
        self, request: admin_pb2.DepositRequest, context: Context
    ) -> admin_pb2.DepositResponse:
        booked = await self._service.accounts.book(
            await self._ctx(context, request.request_id),
            Op.MONEY_DEPOSIT,
            MoneyRequest(
                request.account_id,
                request.amount,
                self._method(request.method),
                request.reference,
                request.note,
            ),
        )
        assert isinstance(booked, Booking)  # only a withdrawal waits for approval
        return admin_pb2.DepositResponse(
            entry=convert.ledger_to_proto(booked.entry), replayed=booked.replayed
        )

    async def Withdraw(
        self, request: admin_pb2.WithdrawRequest, context: Context
    ) -> admin_pb2.WithdrawResponse:
        booked = await self._service.accounts.book(
            await self._ctx(context, request.request_id),
            Op.MONEY_WITHDRAW,
            MoneyRequest(
                request.account_id,
                request.amount,
                self._method(request.method),
                request.reference,
                request.note,
            ),
        )
        if isinstance(booked, Booking):
            return admin_pb2.WithdrawResponse(
                entry=convert.ledger_to_proto(booked.entry), replayed=booked.replayed
            )
        return admin_pb2.WithdrawResponse(
            withdrawal=convert.withdrawal_to_proto(booked.withdrawal), replayed=booked.replayed
        )

    # --- withdrawals awaiting approval (four eyes) -----------------------------------------------

    async def ListWithdrawals(
        self, request: admin_pb2.ListWithdrawalsRequest, context: Context
    ) -> admin_pb2.ListWithdrawalsResponse:
        withdrawals, token = await self._service.withdrawals.search(
            await self._ctx(context),
            status=_enum_name(admin_pb2.WithdrawalStatus, request.status, "WITHDRAWAL_STATUS_"),
            account_id=request.account_id,
            requested=request.page_size,
            page_token=request.page_token,
        )
        return admin_pb2.ListWithdrawalsResponse(
            withdrawals=[convert.withdrawal_to_proto(w) for w in withdrawals],
            next_page_token=token,
        )

    async def ApproveWithdrawal(
        self, request: admin_pb2.ApproveWithdrawalRequest, context: Context
    ) -> admin_pb2.ApproveWithdrawalResponse:
        result = await self._service.withdrawals.approve(
            await self._ctx(context, request.request_id), request.withdrawal_id
        )
        return admin_pb2.ApproveWithdrawalResponse(
            withdrawal=convert.withdrawal_to_proto(result.withdrawal),
            entry=convert.ledger_to_proto(result.entry) if result.entry is not None else None,
            replayed=result.replayed,
        )

    async def RejectWithdrawal(
        self, request: admin_pb2.RejectWithdrawalRequest, context: Context
    ) -> admin_pb2.RejectWithdrawalResponse:
        result = await self._service.withdrawals.reject(
            await self._ctx(context, request.request_id), request.withdrawal_id, request.reason
        )
        return admin_pb2.RejectWithdrawalResponse(
            withdrawal=convert.withdrawal_to_proto(result.withdrawal), replayed=result.replayed
        )

    async def GrantBonus(
        self, request: admin_pb2.GrantBonusRequest, context: Context
    ) -> admin_pb2.GrantBonusResponse:
        booked = await self._service.accounts.book(
            await self._ctx(context, request.request_id),
            Op.MONEY_BONUS,
            MoneyRequest(
                request.account_id,
                request.amount,
                self._method(request.method),
                request.reference,
                request.note,
            ),
        )
        assert isinstance(booked, Booking)  # only a withdrawal waits for approval
        return admin_pb2.GrantBonusResponse(
            entry=convert.ledger_to_proto(booked.entry), replayed=booked.replayed
        )

    async def AdjustBalance(
        self, request: admin_pb2.AdjustBalanceRequest, context: Context
    ) -> admin_pb2.AdjustBalanceResponse:
        booked = await self._service.accounts.book(
            await self._ctx(context, request.request_id),
            Op.MONEY_ADJUST,
            MoneyRequest(
                request.account_id,
                request.amount,
                reference=request.reference,
                adjustment_type=_enum_name(
                    admin_pb2.AdjustmentType, request.type, "ADJUSTMENT_TYPE_"
                ),
                reason=request.reason,
            ),
        )
        assert isinstance(booked, Booking)  # only a withdrawal waits for approval
        return admin_pb2.AdjustBalanceResponse(
            entry=convert.ledger_to_proto(booked.entry), replayed=booked.replayed
        )

    # --- LPs, FIX, exposure ----------------------------------------------------------------------

    async def ListLiquidityProviders(
        self, request: admin_pb2.ListLiquidityProvidersRequest, context: Context
    ) -> admin_pb2.ListLiquidityProvidersResponse:
        sessions = await self._service.liquidity.list_lps(await self._ctx(context))
        return admin_pb2.ListLiquidityProvidersResponse(
            sessions=[convert.lp_session_to_proto(s) for s in sessions]
        )

    async def ConnectLiquidityProvider(
        self, request: admin_pb2.ConnectLiquidityProviderRequest, context: Context
    ) -> admin_pb2.ConnectLiquidityProviderResponse:
        session = await self._service.liquidity.switch_lp(
            await self._ctx(context, request.request_id), Op.LP_CONNECT, request.lp_id
        )
        return admin_pb2.ConnectLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def DisconnectLiquidityProvider(
        self, request: admin_pb2.DisconnectLiquidityProviderRequest, context: Context
    ) -> admin_pb2.DisconnectLiquidityProviderResponse:
        session = await self._service.liquidity.switch_lp(
            await self._ctx(context, request.request_id), Op.LP_DISCONNECT, request.lp_id
        )
        return admin_pb2.DisconnectLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def ReconnectLiquidityProvider(
        self, request: admin_pb2.ReconnectLiquidityProviderRequest, context: Context
    ) -> admin_pb2.ReconnectLiquidityProviderResponse:
        session = await self._service.liquidity.switch_lp(
            await self._ctx(context, request.request_id), Op.LP_RECONNECT, request.lp_id
        )
        return admin_pb2.ReconnectLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def GetFixStatus(
        self, request: admin_pb2.GetFixStatusRequest, context: Context
    ) -> admin_pb2.GetFixStatusResponse:
        sessions = await self._service.liquidity.list_lps(await self._ctx(context), Op.FIX_STATUS)
        return admin_pb2.GetFixStatusResponse(
            sessions=[convert.lp_session_to_proto(s) for s in sessions]
        )

    async def ConnectFixSessions(
        self, request: admin_pb2.ConnectFixSessionsRequest, context: Context
    ) -> admin_pb2.ConnectFixSessionsResponse:
        sessions = await self._service.liquidity.switch_fix(
            await self._ctx(context, request.request_id), Op.FIX_CONNECT, request.lp_id
        )
        return admin_pb2.ConnectFixSessionsResponse(
            sessions=[convert.lp_session_to_proto(s) for s in sessions]
        )

    async def DisconnectFixSessions(
        self, request: admin_pb2.DisconnectFixSessionsRequest, context: Context
    ) -> admin_pb2.DisconnectFixSessionsResponse:
        sessions = await self._service.liquidity.switch_fix(
            await self._ctx(context, request.request_id), Op.FIX_DISCONNECT, request.lp_id
        )
        return admin_pb2.DisconnectFixSessionsResponse(
            sessions=[convert.lp_session_to_proto(s) for s in sessions]
        )

    async def GetExposure(
        self, request: admin_pb2.GetExposureRequest, context: Context
    ) -> admin_pb2.GetExposureResponse:
        exposures = await self._service.liquidity.exposure(await self._ctx(context))
        return admin_pb2.GetExposureResponse(
            exposures=[convert.exposure_to_proto(e) for e in exposures]
        )

    async def GetLpBoard(
        self, request: admin_pb2.GetLpBoardRequest, context: Context
    ) -> admin_pb2.GetLpBoardResponse:
        feeds = await self._service.liquidity.lp_board(
            await self._ctx(context), request.lp_id, request.symbol
        )
        return admin_pb2.GetLpBoardResponse(feeds=[convert.lp_feed_to_proto(f) for f in feeds])

    async def GetTopTraders(
        self, request: admin_pb2.GetTopTradersRequest, context: Context
    ) -> admin_pb2.GetTopTradersResponse:
        since = convert.from_timestamp(request.since, request.HasField("since"))
        top = await self._service.system.top_traders(await self._ctx(context), since, request.limit)
        return admin_pb2.GetTopTradersResponse(result=convert.top_traders_to_proto(top))

    async def GetMarginWatch(
        self, request: admin_pb2.GetMarginWatchRequest, context: Context
    ) -> admin_pb2.GetMarginWatchResponse:
        watched = await self._service.system.margin_watch(await self._ctx(context), request.within)
        return admin_pb2.GetMarginWatchResponse(
            accounts=[convert.margin_watch_to_proto(e) for e in watched]
        )

    async def GetTodaySummary(
        self, request: admin_pb2.GetTodaySummaryRequest, context: Context
    ) -> admin_pb2.GetTodaySummaryResponse:
        since = convert.from_timestamp(request.since, request.HasField("since"))
        summary = await self._service.system.today(await self._ctx(context), since)
        return admin_pb2.GetTodaySummaryResponse(summary=convert.trading_summary_to_proto(summary))

    async def GetOrderRouting(
        self, request: admin_pb2.GetOrderRoutingRequest, context: Context
    ) -> admin_pb2.GetOrderRoutingResponse:
        routing = await self._service.liquidity.order_routing(
            await self._ctx(context), request.order_id
        )
        return admin_pb2.GetOrderRoutingResponse(routing=convert.routing_to_proto(routing))

    # --- audit -----------------------------------------------------------------------------------

    async def ListAuditEntries(
        self, request: admin_pb2.ListAuditEntriesRequest, context: Context
    ) -> admin_pb2.ListAuditEntriesResponse:
        entries, token = await self._service.list_audit(
            await self._ctx(context), _filter(request.filter), request.page_size, request.page_token
        )
        return admin_pb2.ListAuditEntriesResponse(
            entries=[convert.audit_to_proto(e) for e in entries], next_page_token=token
        )

    async def ExportAuditLog(
        self, request: admin_pb2.ExportAuditLogRequest, context: Context
    ) -> admin_pb2.ExportAuditLogResponse:
        text, count = await self._service.export_audit(
            await self._ctx(context), _filter(request.filter)
        )
        return admin_pb2.ExportAuditLogResponse(csv=text, row_count=count)

    async def VerifyAuditLog(
        self, request: admin_pb2.VerifyAuditLogRequest, context: Context
    ) -> admin_pb2.VerifyAuditLogResponse:
        result = await self._service.verify_audit(await self._ctx(context))
        return convert.verification_to_proto(result)

    # --- admin users -----------------------------------------------------------------------------

    async def ListAdminUsers(
        self, request: admin_pb2.ListAdminUsersRequest, context: Context
    ) -> admin_pb2.ListAdminUsersResponse:
        users = await self._service.users.list(await self._ctx(context))
        return admin_pb2.ListAdminUsersResponse(users=[convert.user_to_proto(u) for u in users])

    async def CreateAdminUser(
        self, request: admin_pb2.CreateAdminUserRequest, context: Context
    ) -> admin_pb2.CreateAdminUserResponse:
        role = convert.role_from_proto(request.role)
        user = await self._service.users.create(
            await self._ctx(context, request.request_id),
            request.username,
            request.password,
            role if role is not None else "",
        )
        return admin_pb2.CreateAdminUserResponse(user=convert.user_to_proto(user))

    async def UpdateAdminUser(
        self, request: admin_pb2.UpdateAdminUserRequest, context: Context
    ) -> admin_pb2.UpdateAdminUserResponse:
        user, revoked = await self._service.users.update(
            await self._ctx(context, request.request_id),
            request.username,
            UserChanges(
                role=convert.role_from_proto(request.role),
                disabled=request.disabled if request.HasField("disabled") else None,
            ),
        )
        return admin_pb2.UpdateAdminUserResponse(
            user=convert.user_to_proto(user), tokens_revoked=revoked
        )

    async def ResetAdminUserPassword(
        self, request: admin_pb2.ResetAdminUserPasswordRequest, context: Context
    ) -> admin_pb2.ResetAdminUserPasswordResponse:
        user = await self._service.users.reset_password(
            await self._ctx(context, request.request_id), request.username, request.new_password
        )
        return admin_pb2.ResetAdminUserPasswordResponse(user=convert.user_to_proto(user))

    async def ChangeOwnAdminPassword(
        self, request: admin_pb2.ChangeOwnAdminPasswordRequest, context: Context
    ) -> admin_pb2.ChangeOwnAdminPasswordResponse:
        ctx = await self._ctx(context, request.request_id)
        me, result = await self._service.change_own_password(
            ctx, request.current_password, request.new_password
        )
        return admin_pb2.ChangeOwnAdminPasswordResponse(
            user=convert.user_to_proto(me),
            access_token=result.access_token,
            expire_time=convert.timestamp(result.expires_at),
        )

    # --- system ----------------------------------------------------------------------------------

    async def GetSystemHealth(
        self, request: admin_pb2.GetSystemHealthRequest, context: Context
    ) -> admin_pb2.GetSystemHealthResponse:
        return convert.health_to_proto(await self._service.system.health(await self._ctx(context)))

    async def GetSystemMetrics(
        self, request: admin_pb2.GetSystemMetricsRequest, context: Context
    ) -> admin_pb2.GetSystemMetricsResponse:
        metrics = await self._service.system.metrics(await self._ctx(context))
        return convert.metrics_to_proto(metrics)

    async def RestartService(
        self, request: admin_pb2.RestartServiceRequest, context: Context
    ) -> admin_pb2.RestartServiceResponse:
        await self._service.system.restart(
            await self._ctx(context, request.request_id), request.service
        )
        return admin_pb2.RestartServiceResponse()

    # --- symbols and risk settings (admin.symbols) ----------------------------------------------

    async def ListSymbolSettings(
        self, request: admin_symbols_pb2.ListSymbolSettingsRequest, context: Context
    ) -> admin_symbols_pb2.ListSymbolSettingsResponse:
        found = await self._service.symbols.list_symbols(await self._ctx(context), request.symbol)
        return admin_symbols_pb2.ListSymbolSettingsResponse(
            symbols=[sconvert.symbol_from_json(s) for s in found]
        )

    async def CreateSymbol(
        self, request: admin_symbols_pb2.CreateSymbolRequest, context: Context
    ) -> admin_symbols_pb2.CreateSymbolResponse:
        created = await self._service.symbols.create(
            await self._ctx(context, request.request_id),
            request.symbol,
            sconvert.change_to_json(request.settings),
        )
        return admin_symbols_pb2.CreateSymbolResponse(symbol=sconvert.symbol_from_json(created))

    async def UpdateSymbol(
        self, request: admin_symbols_pb2.UpdateSymbolRequest, context: Context
    ) -> admin_symbols_pb2.UpdateSymbolResponse:
        updated = await self._service.symbols.update(
            await self._ctx(context, request.request_id),
            request.symbol,
            sconvert.change_to_json(request.settings),
        )
        return admin_symbols_pb2.UpdateSymbolResponse(symbol=sconvert.symbol_from_json(updated))

    async def EnableSymbol(
        self, request: admin_symbols_pb2.EnableSymbolRequest, context: Context
    ) -> admin_symbols_pb2.EnableSymbolResponse:
        found = await self._service.symbols.set_enabled(
            await self._ctx(context, request.request_id), request.symbol, True
        )
        return admin_symbols_pb2.EnableSymbolResponse(symbol=sconvert.symbol_from_json(found))

    async def DisableSymbol(
        self, request: admin_symbols_pb2.DisableSymbolRequest, context: Context
    ) -> admin_symbols_pb2.DisableSymbolResponse:
        found = await self._service.symbols.set_enabled(
            await self._ctx(context, request.request_id), request.symbol, False
        )
        return admin_symbols_pb2.DisableSymbolResponse(symbol=sconvert.symbol_from_json(found))

    async def ListRiskSettings(
        self, request: admin_symbols_pb2.ListRiskSettingsRequest, context: Context
    ) -> admin_symbols_pb2.ListRiskSettingsResponse:
        group = request.client_group if request.HasField("client_group") else None
        rows = await self._service.symbols.risk_settings(await self._ctx(context), group)
        return admin_symbols_pb2.ListRiskSettingsResponse(
            settings=[sconvert.risk_doc_to_proto(r) for r in rows]
        )

    async def UpdateRiskSettings(
        self, request: admin_symbols_pb2.UpdateRiskSettingsRequest, context: Context
    ) -> admin_symbols_pb2.UpdateRiskSettingsResponse:
        row = await self._service.symbols.update_risk_settings(
            await self._ctx(context, request.request_id),
            request.settings.client_group,
            sconvert.risk_values(request.settings),
        )
        return admin_symbols_pb2.UpdateRiskSettingsResponse(
            settings=sconvert.risk_doc_to_proto(row)
        )

    # --- execution pages (admin.execution) --------------------------------------------------------

    @staticmethod
    def _expected(request: Any) -> int | None:
        return int(request.expected_version) if request.HasField("expected_version") else None

    async def GetExecutionMode(
        self, request: xpb.GetExecutionModeRequest, context: Context
    ) -> xpb.GetExecutionModeResponse:
        mode = await self._service.execution.execution_mode(await self._ctx(context))
        return xpb.GetExecutionModeResponse(mode=xconvert.execution_mode_to_proto(mode))

    async def SetExecutionMode(
        self, request: xpb.SetExecutionModeRequest, context: Context
    ) -> xpb.SetExecutionModeResponse:
        desk = self._service.execution
        ctx = await self._ctx(context, request.request_id)
        mode = await desk.checked(
            ctx,
            Op.EXECUTION_MODE_SET,
            "execution_mode",
            lambda: xconvert.symbol_mode_from_proto(request.mode),
        )
        changed = await desk.set_execution_mode(ctx, mode, self._expected(request))
        return xpb.SetExecutionModeResponse(mode=xconvert.execution_mode_to_proto(changed))

    async def RemoveSymbolExecutionMode(
        self, request: xpb.RemoveSymbolExecutionModeRequest, context: Context
    ) -> xpb.RemoveSymbolExecutionModeResponse:
        changed = await self._service.execution.remove_symbol_mode(
            await self._ctx(context, request.request_id),
            request.symbol.upper(),
            self._expected(request),
        )
        return xpb.RemoveSymbolExecutionModeResponse(mode=xconvert.execution_mode_to_proto(changed))

    async def ListClientOverrides(
        self, request: xpb.ListClientOverridesRequest, context: Context
    ) -> xpb.ListClientOverridesResponse:
        version, overrides = await self._service.execution.overrides(await self._ctx(context))
        return xpb.ListClientOverridesResponse(
            config_version=version, overrides=[override_to_proto(o) for o in overrides]
        )

    async def SetClientOverride(
        self, request: xpb.SetClientOverrideRequest, context: Context
    ) -> xpb.SetClientOverrideResponse:
        desk = self._service.execution
        ctx = await self._ctx(context, request.request_id)
        override = await desk.checked(
            ctx,
            Op.CLIENT_OVERRIDE_SET,
            f"account:{request.override.account_id}",
            lambda: xconvert.override_from_proto(request.override),
        )
        version, stored = await desk.set_override(ctx, override, self._expected(request))
        return xpb.SetClientOverrideResponse(
            config_version=version, override=override_to_proto(stored)
        )

    async def DeleteClientOverride(
        self, request: xpb.DeleteClientOverrideRequest, context: Context
    ) -> xpb.DeleteClientOverrideResponse:
        version = await self._service.execution.delete_override(
            await self._ctx(context, request.request_id),
            request.account_id,
            self._expected(request),
        )
        return xpb.DeleteClientOverrideResponse(config_version=version)

    async def ListRoutingRules(
        self, request: xpb.ListRoutingRulesRequest, context: Context
    ) -> xpb.ListRoutingRulesResponse:
        version, rules = await self._service.execution.rules(await self._ctx(context))
        return xpb.ListRoutingRulesResponse(
            config_version=version, rules=[rule_to_proto(r) for r in rules]
        )

    async def CreateRoutingRule(
        self, request: xpb.CreateRoutingRuleRequest, context: Context
    ) -> xpb.CreateRoutingRuleResponse:
        desk = self._service.execution
        ctx = await self._ctx(context, request.request_id)
        rule = await desk.checked(
            ctx,
            Op.ROUTING_RULE_CREATE,
            "routing_rule:new",
            lambda: xconvert.rule_from_proto(request.rule),
        )
        version, created = await desk.create_rule(ctx, rule, self._expected(request))
        return xpb.CreateRoutingRuleResponse(config_version=version, rule=rule_to_proto(created))

    async def UpdateRoutingRule(
        self, request: xpb.UpdateRoutingRuleRequest, context: Context
    ) -> xpb.UpdateRoutingRuleResponse:
        desk = self._service.execution
        ctx = await self._ctx(context, request.request_id)
        rule_id = request.rule.rule_id
        rule = await desk.checked(
            ctx,
            Op.ROUTING_RULE_UPDATE,
            f"routing_rule:{rule_id}",
            lambda: xconvert.rule_from_proto(request.rule, rule_id),
        )
        version, stored = await desk.update_rule(ctx, rule, self._expected(request))
        return xpb.UpdateRoutingRuleResponse(config_version=version, rule=rule_to_proto(stored))

    async def DeleteRoutingRule(
        self, request: xpb.DeleteRoutingRuleRequest, context: Context
    ) -> xpb.DeleteRoutingRuleResponse:
        version = await self._service.execution.delete_rule(
            await self._ctx(context, request.request_id), request.rule_id, self._expected(request)
        )
        return xpb.DeleteRoutingRuleResponse(config_version=version)

    async def GetRoutingThresholds(
        self, request: xpb.GetRoutingThresholdsRequest, context: Context
    ) -> xpb.GetRoutingThresholdsResponse:
        thresholds = await self._service.execution.thresholds(await self._ctx(context))
        return xpb.GetRoutingThresholdsResponse(thresholds=xconvert.thresholds_to_proto(thresholds))

    async def UpdateRoutingThresholds(
        self, request: xpb.UpdateRoutingThresholdsRequest, context: Context
    ) -> xpb.UpdateRoutingThresholdsResponse:
        desk = self._service.execution
        ctx = await self._ctx(context, request.request_id)
        volumes, exposures, flows, vols = await desk.checked(
            ctx,
            Op.ROUTING_THRESHOLDS_SET,
            "routing_thresholds",
            lambda: xconvert.thresholds_from_proto(request),
        )
        changed = await desk.set_thresholds(
            ctx, volumes, exposures, self._expected(request), flows, vols
        )
        return xpb.UpdateRoutingThresholdsResponse(thresholds=xconvert.thresholds_to_proto(changed))

    async def GetBookSplitReport(
        self, request: xpb.GetBookSplitReportRequest, context: Context
    ) -> xpb.GetBookSplitReportResponse:
        report = await self._service.execution.book_split(
            await self._ctx(context),
            convert.from_timestamp(request.from_time, request.HasField("from_time")),
            convert.from_timestamp(request.to_time, request.HasField("to_time")),
        )
        return xpb.GetBookSplitReportResponse(split=book_split_to_proto(report))

    # --- routing what-if (router's WhatIf, permission-checked and audited) ----------------------

    async def RunRoutingWhatIf(
        self, request: admin_routing_pb2.RunRoutingWhatIfRequest, context: Context
    ) -> admin_routing_pb2.RunRoutingWhatIfResponse:
        result = await self._service.liquidity.routing_what_if(
            await self._ctx(context, request.request_id),
            json_format.MessageToDict(request.what_if),
        )
        return admin_routing_pb2.RunRoutingWhatIfResponse(
            result=json_format.ParseDict(result, router_whatif_pb2.WhatIfResponse())
        )

    # -- LP administration --------------------------------------------------------------------

    async def CreateLiquidityProvider(
        self, request: admin_lps_pb2.CreateLiquidityProviderRequest, context: Context
    ) -> admin_lps_pb2.CreateLiquidityProviderResponse:
        session = await self._service.liquidity.create_lp(
            await self._ctx(context, request.request_id),
            convert.lp_definition_from_proto(request.lp),
            enabled=not request.disabled,
        )
        return admin_lps_pb2.CreateLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def UpdateLiquidityProvider(
        self, request: admin_lps_pb2.UpdateLiquidityProviderRequest, context: Context
    ) -> admin_lps_pb2.UpdateLiquidityProviderResponse:
        definition = convert.lp_definition_from_proto(request.lp)
        changes = {f.name: getattr(definition, f.name) for f in fields(definition)}
        session = await self._service.liquidity.update_lp(
            await self._ctx(context, request.request_id), request.lp.name, changes
        )
        return admin_lps_pb2.UpdateLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def DeleteLiquidityProvider(
        self, request: admin_lps_pb2.DeleteLiquidityProviderRequest, context: Context
    ) -> admin_lps_pb2.DeleteLiquidityProviderResponse:
        session = await self._service.liquidity.delete_lp(
            await self._ctx(context, request.request_id), request.lp_id
        )
        return admin_lps_pb2.DeleteLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def EnableLiquidityProvider(
        self, request: admin_lps_pb2.EnableLiquidityProviderRequest, context: Context
    ) -> admin_lps_pb2.EnableLiquidityProviderResponse:
        session = await self._service.liquidity.set_lp_enabled(
            await self._ctx(context, request.request_id), request.lp_id, True
        )
        return admin_lps_pb2.EnableLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    async def DisableLiquidityProvider(
        self, request: admin_lps_pb2.DisableLiquidityProviderRequest, context: Context
    ) -> admin_lps_pb2.DisableLiquidityProviderResponse:
        session = await self._service.liquidity.set_lp_enabled(
            await self._ctx(context, request.request_id), request.lp_id, False
        )
        return admin_lps_pb2.DisableLiquidityProviderResponse(
            session=convert.lp_session_to_proto(session)
        )

    # --- client group markups (admin.markups; quotes owns them) ----------------------------------

    async def ListMarkups(
        self, request: mpb.ListMarkupsRequest, context: Context
    ) -> mpb.ListMarkupsResponse:
        markups = await self._service.markups.list(
            await self._ctx(context), request.client_group, request.symbol
        )
        return mpb.ListMarkupsResponse(markups=[markup_to_proto_full(m) for m in markups])

    async def SetMarkup(
        self, request: mpb.SetMarkupRequest, context: Context
    ) -> mpb.SetMarkupResponse:
        markup = await self._service.markups.set(
            await self._ctx(context, request.request_id), markup_from_proto(request.markup)
        )
        return mpb.SetMarkupResponse(markup=markup_to_proto_full(markup))

    async def DeleteMarkup(
        self, request: mpb.DeleteMarkupRequest, context: Context
    ) -> mpb.DeleteMarkupResponse:
        markup = await self._service.markups.delete(
            await self._ctx(context, request.request_id), request.client_group, request.symbol
        )
        return mpb.DeleteMarkupResponse(markup=markup_to_proto_full(markup))
