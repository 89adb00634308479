"""The role matrix: every operation x every role, over REST and over gRPC, against the one
permission table. Allowed calls aim at an unknown account / LP (or are harmless), so they never
change anything; refused calls answer 403 / PERMISSION_DENIED and leave a DENIED audit row."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from conftest import BY_ROLE, USERS, bearer
from google.protobuf.timestamp_pb2 import Timestamp

from admin.domain import Role
from admin.permissions import PERMISSIONS, Op, allowed
from fxmesh.v1 import (
    admin_execution_pb2,
    admin_lps_pb2,
    admin_markups_pb2,
    admin_pb2,
    admin_routing_pb2,
    admin_symbols_pb2,
    fixgw_pb2,
    oms_pb2,
    quotes_markups_pb2,
    router_pb2,
    router_whatif_pb2,
    types_pb2,
)

NOBODY = "987654321"  # no such account
NO_RULE = 987_654_321_987  # no such routing rule
MONEY = {"accountId": NOBODY, "amount": "10.00", "method": "BANK_TRANSFER"}

# op -> (method, path, JSON body)
REST: dict[Op, tuple[str, str, dict[str, Any] | None]] = {
    Op.ACCOUNTS_LIST: ("GET", "/admin/accounts", None),
    Op.ACCOUNT_GET: ("GET", f"/admin/accounts/{NOBODY}", None),
    Op.ACCOUNT_CREATE: (
        "POST",
        "/admin/accounts",
        {
            "username": "matrix-x",
            "password": "long-enough",
            "accountType": "DEMO",
            "currency": "XXX",
            "leverage": 100,
        },
    ),
    Op.ACCOUNT_UPDATE: ("PUT", f"/admin/accounts/{NOBODY}", {"group": "vip"}),
    Op.ACCOUNT_SET_LEVERAGE: ("PUT", f"/admin/accounts/{NOBODY}/leverage", {"leverage": 50}),
    Op.ACCOUNT_SUSPEND: ("POST", f"/admin/accounts/{NOBODY}/suspend", None),
    Op.ACCOUNT_ACTIVATE: ("POST", f"/admin/accounts/{NOBODY}/activate", None),
    Op.ACCOUNT_CLOSE: ("DELETE", f"/admin/accounts/{NOBODY}", None),
    Op.MONEY_DEPOSIT: ("POST", "/admin/deposit", MONEY),
    Op.MONEY_WITHDRAW: ("POST", "/admin/withdraw", MONEY),
    Op.MONEY_BONUS: ("POST", "/admin/bonus", MONEY),
    Op.MONEY_ADJUST: (
        "POST",
        "/admin/adjust",
        {"accountId": NOBODY, "amount": "-1.00", "type": "CORRECTION", "reason": "matrix"},
    ),
    Op.WITHDRAWALS_LIST: ("GET", "/admin/withdrawals?status=PENDING", None),
    Op.WITHDRAWAL_APPROVE: ("POST", f"/admin/withdrawals/{NOBODY}/approve", None),
    Op.WITHDRAWAL_REJECT: ("POST", f"/admin/withdrawals/{NOBODY}/reject", {"reason": "matrix"}),
    Op.LPS_LIST: ("GET", "/admin/lps", None),
    Op.LP_CONNECT: ("POST", "/admin/lps/NOSUCHLP/connect", None),
    Op.LP_DISCONNECT: ("POST", "/admin/lps/NOSUCHLP/disconnect", None),
    Op.LP_RECONNECT: ("POST", "/admin/lps/NOSUCHLP/reconnect", None),
    Op.FIX_STATUS: ("GET", "/admin/fix/status", None),
    Op.FIX_CONNECT: ("POST", "/admin/fix/connect", {"lpId": "NOSUCHLP"}),
    Op.FIX_DISCONNECT: ("POST", "/admin/fix/disconnect", {"lpId": "NOSUCHLP"}),
    Op.EXPOSURE_GET: ("GET", "/admin/exposure", None),
    Op.ORDER_ROUTING_GET: ("GET", "/admin/orders/4242/routing", None),
    Op.SUMMARY_GET: ("GET", "/admin/summary/today", None),
    Op.LP_BOARD: ("GET", "/admin/lps/statistics", None),
    Op.LP_CREATE: (
        "POST",
        "/admin/lps",
        {"id": "LPSIM", "host": "127.0.0.1", "port": 9, "targetCompId": "MATRIX"},
    ),
    Op.LP_UPDATE: ("PUT", "/admin/lps/NOSUCHLP", {"port": 9}),
    Op.LP_DELETE: ("DELETE", "/admin/lps/NOSUCHLP", None),
    Op.LP_ENABLE: ("POST", "/admin/lps/NOSUCHLP/enable", None),
    Op.LP_DISABLE: ("POST", "/admin/lps/NOSUCHLP/disable", None),
    # Markups: allowed changes aim at an unknown symbol / a markup that does not exist.
    Op.MARKUPS_LIST: ("GET", "/admin/markups", None),
    Op.MARKUP_SET: (
        "PUT",
        "/admin/markups/matrix-grp/NOSUCHSYM",
        {"unit": "POINTS", "markupBid": "1", "markupAsk": "1"},
    ),
    Op.MARKUP_DELETE: ("DELETE", "/admin/markups/matrix-grp/NOSUCHSYM", None),
    Op.RISK_TOP_TRADERS: ("GET", "/admin/risk/top-traders", None),
    Op.RISK_MARGIN_WATCH: ("GET", "/admin/risk/margin-watch", None),
    Op.AUDIT_LIST: ("GET", "/admin/audit", None),
    Op.AUDIT_EXPORT: ("GET", "/admin/audit/export?actor=nobody", None),
    Op.AUDIT_VERIFY: ("GET", "/admin/audit/verify", None),
    Op.USERS_LIST: ("GET", "/admin/users", None),
    Op.USER_CREATE: (
        "POST",
        "/admin/users",
        {"username": "matrix-u", "password": "short", "role": "SUPPORT"},
    ),
    Op.USER_UPDATE: ("PUT", "/admin/users/nosuchuser", {"disabled": True}),
    Op.USER_RESET_PASSWORD: (
        "POST",
        "/admin/users/nosuchuser/password",
        {"newPassword": "Matrix-password-1"},
    ),
    # currentPassword: the caller's own (filled in per role); the new one is too weak: no change.
    Op.USER_CHANGE_OWN_PASSWORD: (
        "POST",
        "/admin/users/me/password",
        {"currentPassword": "", "newPassword": "short"},
    ),
    Op.SYSTEM_HEALTH: ("GET", "/admin/system/health", None),
    Op.SYSTEM_METRICS: ("GET", "/admin/system/metrics", None),
    Op.SYSTEM_RESTART: ("POST", "/admin/system/restart", {"service": "nosuchservice"}),
    # Symbols and risk settings: allowed calls aim at an unknown symbol or carry a bad value.
    Op.SYMBOLS_LIST: ("GET", "/admin/symbols", None),
    Op.SYMBOL_CREATE: ("POST", "/admin/symbols", {"symbol": "MATRIXSYM", "assetClass": "FX"}),
    Op.SYMBOL_UPDATE: ("PUT", "/admin/symbols/NOSUCHSYM", {"spreadMarkup": 1}),
    Op.SYMBOL_ENABLE: ("POST", "/admin/symbols/NOSUCHSYM/enable", None),
    Op.SYMBOL_DISABLE: ("POST", "/admin/symbols/NOSUCHSYM/disable", None),
    Op.RISK_SETTINGS_LIST: ("GET", "/admin/risk-settings", None),
    Op.RISK_SETTINGS_UPDATE: (
        "PUT",
        "/admin/risk-settings?group=matrix-grp",
        {"maxLeverage": 10000},
    ),
    # Execution: allowed changes are refused by router (bad value, unknown id) or oms (unknown
    # account), so the shared routing configuration never changes here.
    Op.EXECUTION_MODE_GET: ("GET", "/admin/execution-mode", None),
    Op.EXECUTION_MODE_SET: ("POST", "/admin/execution-mode", {"mode": "C", "hedgeRatio": "5"}),
    Op.EXECUTION_MODE_REMOVE: ("DELETE", "/admin/execution-mode/symbols/TNOSUCH1", None),
    Op.CLIENT_OVERRIDES_LIST: ("GET", "/admin/client-overrides", None),
    Op.CLIENT_OVERRIDE_SET: ("POST", "/admin/client-overrides", {"accountId": NOBODY, "mode": "A"}),
    Op.CLIENT_OVERRIDE_DELETE: ("DELETE", f"/admin/client-overrides/{NOBODY}", None),
    Op.ROUTING_RULES_LIST: ("GET", "/admin/routing-rules", None),
    Op.ROUTING_RULE_CREATE: (
        "POST",
        "/admin/routing-rules",
        {"clientGroup": "matrix", "mode": "C", "hedgeRatio": "2"},
    ),
    Op.ROUTING_RULE_UPDATE: (
        "PUT",
        f"/admin/routing-rules/{NO_RULE}",
        {"clientGroup": "matrix", "mode": "A"},
    ),
    Op.ROUTING_RULE_DELETE: ("DELETE", f"/admin/routing-rules/{NO_RULE}", None),
    Op.ROUTING_THRESHOLDS_GET: ("GET", "/admin/routing-thresholds", None),
    Op.ROUTING_THRESHOLDS_SET: (
        "PUT",
        "/admin/routing-thresholds",
        {"exposureLimits": [{"symbol": "TMATRIX", "maxNetVolume": "-1"}]},
    ),
    Op.RISK_BOOK_SPLIT: ("GET", "/admin/risk/book-split", None),
    Op.ROUTING_WHAT_IF: (
        "POST",
        "/admin/routing/what-if",
        {"startTime": "2000-01-01T00:00:00Z", "endTime": "2000-01-02T00:00:00Z"},
    ),
}

_M = admin_pb2
_S = admin_symbols_pb2
_X = admin_execution_pb2
_WHAT_IF = admin_routing_pb2.RunRoutingWhatIfRequest(
    what_if=router_whatif_pb2.WhatIfRequest(
        start_time=Timestamp(seconds=946_684_800), end_time=Timestamp(seconds=946_771_200)
    )
)
_L = admin_lps_pb2
# op -> (RPC name, request)
GRPC: dict[Op, tuple[str, Any]] = {
    Op.ACCOUNTS_LIST: ("ListClientAccounts", _M.ListClientAccountsRequest()),
    Op.ACCOUNT_GET: ("GetClientAccount", _M.GetClientAccountRequest(account_id=NOBODY)),
    Op.ACCOUNT_CREATE: (
        "CreateClientAccount",
        _M.CreateClientAccountRequest(
            username="matrix-g",
            password="long-enough",
            account_type=1,
            currency="XXX",
            leverage=100,
        ),
    ),
    Op.ACCOUNT_UPDATE: (
        "UpdateClientAccount",
        _M.UpdateClientAccountRequest(account_id=NOBODY, client_group="vip"),
    ),
    Op.ACCOUNT_SET_LEVERAGE: (
        "SetClientLeverage",
        _M.SetClientLeverageRequest(account_id=NOBODY, leverage=50),
    ),
    Op.ACCOUNT_SUSPEND: ("SuspendClientAccount", _M.SuspendClientAccountRequest(account_id=NOBODY)),
    Op.ACCOUNT_ACTIVATE: (
        "ActivateClientAccount",
        _M.ActivateClientAccountRequest(account_id=NOBODY),
    ),
    Op.ACCOUNT_CLOSE: ("CloseClientAccount", _M.CloseClientAccountRequest(account_id=NOBODY)),
    Op.MONEY_DEPOSIT: (
        "Deposit",
        _M.DepositRequest(account_id=NOBODY, amount="10.00", method=1, request_id="m"),
    ),
    Op.MONEY_WITHDRAW: (
        "Withdraw",
        _M.WithdrawRequest(account_id=NOBODY, amount="10.00", method=1, request_id="m"),
    ),
    Op.MONEY_BONUS: (
        "GrantBonus",
        _M.GrantBonusRequest(account_id=NOBODY, amount="1", request_id="m"),
    ),
    Op.MONEY_ADJUST: (
        "AdjustBalance",
        _M.AdjustBalanceRequest(
            account_id=NOBODY, amount="-1", type=3, reason="matrix", request_id="m"
        ),
    ),
    Op.WITHDRAWALS_LIST: ("ListWithdrawals", _M.ListWithdrawalsRequest(status=1)),
    Op.WITHDRAWAL_APPROVE: (
        "ApproveWithdrawal",
        _M.ApproveWithdrawalRequest(withdrawal_id=NOBODY),
    ),
    Op.WITHDRAWAL_REJECT: (
        "RejectWithdrawal",
        _M.RejectWithdrawalRequest(withdrawal_id=NOBODY, reason="matrix"),
    ),
    Op.LPS_LIST: ("ListLiquidityProviders", _M.ListLiquidityProvidersRequest()),
    Op.LP_CONNECT: (
        "ConnectLiquidityProvider",
        _M.ConnectLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.LP_DISCONNECT: (
        "DisconnectLiquidityProvider",
        _M.DisconnectLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.LP_RECONNECT: (
        "ReconnectLiquidityProvider",
        _M.ReconnectLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.FIX_STATUS: ("GetFixStatus", _M.GetFixStatusRequest()),
    Op.FIX_CONNECT: ("ConnectFixSessions", _M.ConnectFixSessionsRequest(lp_id="NOSUCHLP")),
    Op.FIX_DISCONNECT: ("DisconnectFixSessions", _M.DisconnectFixSessionsRequest(lp_id="NOSUCHLP")),
    Op.EXPOSURE_GET: ("GetExposure", _M.GetExposureRequest()),
    Op.ORDER_ROUTING_GET: ("GetOrderRouting", _M.GetOrderRoutingRequest(order_id="4242")),
    Op.SUMMARY_GET: ("GetTodaySummary", _M.GetTodaySummaryRequest()),
    Op.LP_BOARD: ("GetLpBoard", _M.GetLpBoardRequest()),
    Op.RISK_TOP_TRADERS: ("GetTopTraders", _M.GetTopTradersRequest()),
    Op.RISK_MARGIN_WATCH: ("GetMarginWatch", _M.GetMarginWatchRequest()),
    Op.AUDIT_LIST: ("ListAuditEntries", _M.ListAuditEntriesRequest(page_size=1)),
    Op.AUDIT_EXPORT: (
        "ExportAuditLog",
        _M.ExportAuditLogRequest(filter=_M.AuditFilter(actor="nobody")),
    ),
    Op.AUDIT_VERIFY: ("VerifyAuditLog", _M.VerifyAuditLogRequest()),
    Op.USERS_LIST: ("ListAdminUsers", _M.ListAdminUsersRequest()),
    Op.USER_CREATE: (
        "CreateAdminUser",
        _M.CreateAdminUserRequest(
            username="matrix-g", password="short", role=_M.ADMIN_ROLE_SUPPORT
        ),
    ),
    Op.USER_UPDATE: (
        "UpdateAdminUser",
        _M.UpdateAdminUserRequest(username="nosuchuser", disabled=True),
    ),
    Op.USER_RESET_PASSWORD: (
        "ResetAdminUserPassword",
        _M.ResetAdminUserPasswordRequest(username="nosuchuser", new_password="Matrix-password-1"),
    ),
    Op.USER_CHANGE_OWN_PASSWORD: (
        "ChangeOwnAdminPassword",
        _M.ChangeOwnAdminPasswordRequest(current_password="", new_password="short"),
    ),
    Op.SYSTEM_HEALTH: ("GetSystemHealth", _M.GetSystemHealthRequest()),
    Op.SYSTEM_METRICS: ("GetSystemMetrics", _M.GetSystemMetricsRequest()),
    Op.SYSTEM_RESTART: ("RestartService", _M.RestartServiceRequest(service="nosuchservice")),
    Op.SYMBOLS_LIST: ("ListSymbolSettings", _S.ListSymbolSettingsRequest()),
    Op.SYMBOL_CREATE: (
        "CreateSymbol",
        _S.CreateSymbolRequest(
            symbol="MATRIXSYM",
            settings=oms_pb2.SymbolSettingsChange(asset_class=oms_pb2.ASSET_CLASS_FX),
        ),
    ),
    Op.SYMBOL_UPDATE: (
        "UpdateSymbol",
        _S.UpdateSymbolRequest(
            symbol="NOSUCHSYM", settings=oms_pb2.SymbolSettingsChange(spread_markup_points=1)
        ),
    ),
    Op.SYMBOL_ENABLE: ("EnableSymbol", _S.EnableSymbolRequest(symbol="NOSUCHSYM")),
    Op.SYMBOL_DISABLE: ("DisableSymbol", _S.DisableSymbolRequest(symbol="NOSUCHSYM")),
    Op.RISK_SETTINGS_LIST: ("ListRiskSettings", _S.ListRiskSettingsRequest()),
    Op.RISK_SETTINGS_UPDATE: (
        "UpdateRiskSettings",
        _S.UpdateRiskSettingsRequest(
            settings=oms_pb2.RiskSettings(client_group="matrix-grp", max_leverage=10000)
        ),
    ),
    Op.EXECUTION_MODE_GET: ("GetExecutionMode", _X.GetExecutionModeRequest()),
    Op.EXECUTION_MODE_SET: (
        "SetExecutionMode",
        _X.SetExecutionModeRequest(
            mode=_X.SymbolExecutionMode(book=types_pb2.BOOK_C, hedge_ratio="5")
        ),
    ),
    Op.EXECUTION_MODE_REMOVE: (
        "RemoveSymbolExecutionMode",
        _X.RemoveSymbolExecutionModeRequest(symbol="TNOSUCH1"),
    ),
    Op.CLIENT_OVERRIDES_LIST: ("ListClientOverrides", _X.ListClientOverridesRequest()),
    Op.CLIENT_OVERRIDE_SET: (
        "SetClientOverride",
        _X.SetClientOverrideRequest(
            override=router_pb2.AccountOverrideConfig(account_id=NOBODY, book=types_pb2.BOOK_A)
        ),
    ),
    Op.CLIENT_OVERRIDE_DELETE: (
        "DeleteClientOverride",
        _X.DeleteClientOverrideRequest(account_id=NOBODY),
    ),
    Op.ROUTING_RULES_LIST: ("ListRoutingRules", _X.ListRoutingRulesRequest()),
    Op.ROUTING_RULE_CREATE: (
        "CreateRoutingRule",
        _X.CreateRoutingRuleRequest(
            rule=router_pb2.RoutingRuleConfig(
                client_group="matrix", book=types_pb2.BOOK_C, hedge_ratio="2"
            )
        ),
    ),
    Op.ROUTING_RULE_UPDATE: (
        "UpdateRoutingRule",
        _X.UpdateRoutingRuleRequest(
            rule=router_pb2.RoutingRuleConfig(
                rule_id=NO_RULE, client_group="matrix", book=types_pb2.BOOK_A
            )
        ),
    ),
    Op.ROUTING_RULE_DELETE: ("DeleteRoutingRule", _X.DeleteRoutingRuleRequest(rule_id=NO_RULE)),
    Op.ROUTING_THRESHOLDS_GET: ("GetRoutingThresholds", _X.GetRoutingThresholdsRequest()),
    Op.ROUTING_THRESHOLDS_SET: (
        "UpdateRoutingThresholds",
        _X.UpdateRoutingThresholdsRequest(
            exposure_limits=[router_pb2.ExposureLimitConfig(symbol="TMATRIX", max_net_volume="-1")]
        ),
    ),
    Op.RISK_BOOK_SPLIT: ("GetBookSplitReport", _X.GetBookSplitReportRequest()),
    Op.ROUTING_WHAT_IF: ("RunRoutingWhatIf", _WHAT_IF),
    Op.LP_CREATE: (
        "CreateLiquidityProvider",
        _L.CreateLiquidityProviderRequest(
            lp=fixgw_pb2.LpDefinition(
                name="LPSIM", host="127.0.0.1", port=9, target_comp_id="MATRIX"
            )
        ),
    ),
    Op.LP_UPDATE: (
        "UpdateLiquidityProvider",
        _L.UpdateLiquidityProviderRequest(lp=fixgw_pb2.LpDefinition(name="NOSUCHLP", port=9)),
    ),
    Op.LP_DELETE: (
        "DeleteLiquidityProvider",
        _L.DeleteLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.LP_ENABLE: (
        "EnableLiquidityProvider",
        _L.EnableLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.LP_DISABLE: (
        "DisableLiquidityProvider",
        _L.DisableLiquidityProviderRequest(lp_id="NOSUCHLP"),
    ),
    Op.MARKUPS_LIST: ("ListMarkups", admin_markups_pb2.ListMarkupsRequest()),
    Op.MARKUP_SET: (
        "SetMarkup",
        admin_markups_pb2.SetMarkupRequest(
            markup=quotes_markups_pb2.GroupMarkup(
                client_group="matrix-grp",
                symbol="NOSUCHSYM",
                unit=quotes_markups_pb2.MARKUP_UNIT_POINTS,
                markup_bid="1",
                markup_ask="1",
            )
        ),
    ),
    Op.MARKUP_DELETE: (
        "DeleteMarkup",
        admin_markups_pb2.DeleteMarkupRequest(client_group="matrix-grp", symbol="NOSUCHSYM"),
    ),
}

CASES = [(op, role) for op in Op for role in Role]


def test_matrix_tables_when_compared_then_every_operation_has_a_rest_and_grpc_case():
    assert set(REST) == set(GRPC) == set(Op) == set(PERMISSIONS)
    rpcs = {m.name for m in admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods}
    assert rpcs - {name for name, _ in GRPC.values()} == {"Login"}


async def _denied_rows(admin, op: Op, actor: str) -> int:
    return await admin.pool.fetchval(
        "SELECT count(*) FROM admin.audit_log WHERE action = $1 AND actor = $2 "
        "AND outcome = 'DENIED' AND error_code = 'ROLE_NOT_PERMITTED'",
        op.value,
        actor,
    )


@pytest.mark.parametrize(("op", "role"), CASES, ids=[f"{o.value}-{r.value}" for o, r in CASES])
async def test_rest_when_role_calls_operation_then_table_decides(admin, op, role):
    token = await admin.token_of(role)
    actor = (await admin.service.authenticate(token)).username
    method, path, body = REST[op]
    if op is Op.USER_CHANGE_OWN_PASSWORD:
        body = {**(body or {}), "currentPassword": USERS[actor][0]}
    denied_before = await _denied_rows(admin, op, actor)
    async with admin.http(token, **{"Idempotency-Key": f"m-{uuid.uuid4().hex[:8]}"}) as http:
        response = await http.request(method, path, json=body)

    if allowed(role, op):
        assert response.status_code != 403, response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "ROLE_NOT_PERMITTED"
        assert await _denied_rows(admin, op, actor) == denied_before + 1


@pytest.mark.parametrize(("op", "role"), CASES, ids=[f"{o.value}-{r.value}" for o, r in CASES])
async def test_grpc_when_role_calls_operation_then_table_decides(admin, admin_stub, op, role):
    token = await admin.token_of(role)
    name, request = GRPC[op]
    if op is Op.USER_CHANGE_OWN_PASSWORD:
        request = _M.ChangeOwnAdminPasswordRequest(
            current_password=USERS[BY_ROLE[role]][0], new_password="short"
        )
    code = grpc.StatusCode.OK
    try:
        await getattr(admin_stub, name)(request, metadata=bearer(token), timeout=10)
    except grpc.aio.AioRpcError as exc:
        code = exc.code()

    if allowed(role, op):
        assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INTERNAL)
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED
