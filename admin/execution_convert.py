"""AdminService's execution messages (``admin_execution.proto``) <-> ``admin.execution``; the
router and oms messages they embed are converted by ``admin.execution_clients``."""

from __future__ import annotations

from decimal import Decimal

from admin.execution import (
    ClientOverride,
    ExecutionMode,
    ExposureThreshold,
    FlowThresholdRow,
    GroupRule,
    SymbolMode,
    Thresholds,
    VolatilityThresholdRow,
    VolumeThreshold,
    account_id_of,
    book_of,
)
from admin.execution_clients import (
    FALLBACK_OUT,
    OVER_OUT,
    book_name,
    exposure_to_proto,
    fallback_name,
    flow_to_proto,
    over_limit_name,
    volatility_to_proto,
    volume_to_proto,
)
from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.v1 import admin_execution_pb2 as pb
from fxmesh.v1 import router_pb2, types_pb2

_BOOK_OUT = {"A": types_pb2.BOOK_A, "B": types_pb2.BOOK_B, "C": types_pb2.BOOK_C}
ZERO = Decimal(0)


def _book(value: int, field: str = "book") -> str:
    return book_of(book_name(value) or "?", field)


def _ratio(text: str) -> Decimal:
    return parse_decimal(text, "hedge_ratio") if text.strip() else ZERO


def _lots(text: str, field: str) -> Decimal | None:
    return parse_decimal(text, field) if text.strip() else None


def symbol_mode_to_proto(m: SymbolMode) -> pb.SymbolExecutionMode:
    return pb.SymbolExecutionMode(
        symbol=m.symbol or "",
        book=_BOOK_OUT[m.book],
        hedge_ratio=fmt(m.hedge_ratio),
        max_volume=fmt(m.max_volume),
        over_limit=OVER_OUT[m.over_limit],
        fallback=FALLBACK_OUT[m.fallback] if m.fallback else router_pb2.LP_FALLBACK_UNSPECIFIED,
        priority_lps=list(m.priority_lps),
    )


def execution_mode_to_proto(mode: ExecutionMode) -> pb.ExecutionMode:
    return pb.ExecutionMode(
        config_version=mode.version,
        global_book=_BOOK_OUT[mode.global_book],
        global_hedge_ratio=fmt(mode.global_hedge_ratio),
        symbols=[symbol_mode_to_proto(s) for s in mode.symbols],
    )


def symbol_mode_from_proto(m: pb.SymbolExecutionMode) -> SymbolMode:
    symbol = m.symbol.strip().upper() or None
    if symbol is None and (
        m.max_volume.strip()
        or m.priority_lps
        or m.fallback != router_pb2.LP_FALLBACK_UNSPECIFIED
        or m.over_limit != router_pb2.OVER_LIMIT_UNSPECIFIED
    ):
        raise InvalidArgument(
            "max_volume, over_limit, priority_lps and fallback belong to a symbol's mode",
            reason="SYMBOL_REQUIRED",
            metadata={"field": "symbol"},
        )
    return SymbolMode(
        symbol=symbol,
        book=_book(m.book),
        hedge_ratio=_ratio(m.hedge_ratio),
        max_volume=_lots(m.max_volume, "max_volume"),
        over_limit=over_limit_name(m.over_limit),
        fallback=fallback_name(m.fallback)
        if m.fallback != router_pb2.LP_FALLBACK_UNSPECIFIED
        else None,
        priority_lps=tuple(lp.strip() for lp in m.priority_lps),
    )


def override_from_proto(o: router_pb2.AccountOverrideConfig) -> ClientOverride:
    book = _book(o.book)
    return ClientOverride(
        account_id=account_id_of(o.account_id),
        book=book,
        hedge_ratio=_ratio(o.hedge_ratio),
        reason=o.reason.strip() or f"ADMIN_{book}_BOOK",
        enabled=o.enabled,
    )


def rule_from_proto(r: router_pb2.RoutingRuleConfig, rule_id: int = 0) -> GroupRule:
    book = _book(r.book)
    return GroupRule(
        rule_id=rule_id,
        priority=r.priority,
        client_group=r.client_group.strip() or None,
        symbol=r.symbol.strip().upper() or None,
        book=book,
        hedge_ratio=_ratio(r.hedge_ratio),
        reason=r.reason.strip() or f"GROUP_{book}_BOOK",
        enabled=r.enabled,
    )


def thresholds_from_proto(
    request: pb.UpdateRoutingThresholdsRequest,
) -> tuple[
    list[VolumeThreshold],
    list[ExposureThreshold],
    list[FlowThresholdRow],
    list[VolatilityThresholdRow],
]:
    volumes = [
        VolumeThreshold(
            v.client_group.strip() or None,
            v.symbol.strip().upper() or None,
            _lots(v.max_volume, "max_volume"),
            over_limit_name(v.over_limit),
        )
        for v in request.volume_limits
    ]
    exposures = [
        ExposureThreshold(e.symbol.strip().upper(), _lots(e.max_net_volume, "max_net_volume"))
        for e in request.exposure_limits
    ]
    flows = [
        FlowThresholdRow(
            client_group=f.client_group.strip() or None,
            min_closed_deals=f.min_closed_deals,
            net_profit_min=_lots(f.net_profit_min, "net_profit_min"),
            win_rate_min=_lots(f.win_rate_min, "win_rate_min"),
            min_markout_fills=f.min_markout_fills,
            toxicity_min_bps=_lots(f.toxicity_min_bps, "toxicity_min_bps"),
            latency_arb_share_min=_lots(f.latency_arb_share_min, "latency_arb_share_min"),
        )
        for f in request.flow_thresholds
    ]
    flows += [
        FlowThresholdRow(r.client_group.strip() or None, remove=True)
        for r in request.remove_flow_thresholds
    ]
    vols = [
        VolatilityThresholdRow(
            symbol=v.symbol.strip().upper() or None,
            max_bps=parse_decimal(v.max_bps, "max_bps"),
            book=_book(v.book),
            hedge_ratio=_ratio(v.hedge_ratio),
        )
        for v in request.volatility_thresholds
    ]
    vols += [
        VolatilityThresholdRow(r.symbol.strip().upper() or None, ZERO, remove=True)
        for r in request.remove_volatility_thresholds
    ]
    return volumes, exposures, flows, vols


def thresholds_to_proto(t: Thresholds) -> pb.RoutingThresholds:
    return pb.RoutingThresholds(
        config_version=t.version,
        volume_limits=[volume_to_proto(v) for v in t.volume_limits],
        exposure_limits=[exposure_to_proto(e) for e in t.exposure_limits],
        flow_thresholds=[flow_to_proto(f) for f in t.flow_thresholds],
        volatility_thresholds=[volatility_to_proto(v) for v in t.volatility_thresholds],
    )
