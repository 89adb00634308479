"""protobuf <-> ``router.configuration`` for GetRoutingConfig / ChangeRoutingConfig."""

from __future__ import annotations

from decimal import Decimal

from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import router_pb2, types_pb2
from router.configuration import (
    ChangeRequest,
    ChangeResult,
    ConfigSnapshot,
    CreateRule,
    DeleteOverride,
    DeleteRule,
    Edit,
    PutOverride,
    RemoveFlowThreshold,
    RemoveSymbolMode,
    RemoveVolatilityThreshold,
    SetExecutionMode,
    SetExposureLimit,
    SetFlowThreshold,
    SetVolatilityThreshold,
    SetVolumeLimit,
    UpdateRule,
)
from router.domain import Book, RoutingRule
from router.rules import (
    AccountOverride,
    FlowThreshold,
    LpFallback,
    OverLimit,
    VolatilityThreshold,
)

_BOOKS = {Book.A: types_pb2.BOOK_A, Book.B: types_pb2.BOOK_B, Book.C: types_pb2.BOOK_C}
_BOOKS_IN: dict[int, Book] = {int(v): k for k, v in _BOOKS.items()}
_OVER = {OverLimit.A: router_pb2.OVER_LIMIT_A, OverLimit.SPLIT: router_pb2.OVER_LIMIT_SPLIT}
_OVER_IN: dict[int, OverLimit] = {int(v): k for k, v in _OVER.items()}
_FALLBACK = {
    LpFallback.B: router_pb2.LP_FALLBACK_B,
    LpFallback.REJECT: router_pb2.LP_FALLBACK_REJECT,
}
_FALLBACK_IN: dict[int, LpFallback] = {int(v): k for k, v in _FALLBACK.items()}
_ZERO = Decimal(0)


def config_message(config: ConfigSnapshot) -> router_pb2.RoutingConfig:
    return router_pb2.RoutingConfig(
        version=config.version,
        rules=[rule_message(r) for r in config.rules],
        overrides=[
            router_pb2.AccountOverrideConfig(
                account_id=o.account_id,
                book=_BOOKS[o.book],
                hedge_ratio=fmt(o.c_book_hedge_ratio),
                reason=o.reason,
                enabled=o.enabled,
            )
            for o in config.overrides
        ],
        volume_limits=[
            router_pb2.VolumeLimitConfig(
                client_group=v.client_group or "",
                symbol=v.symbol or "",
                max_volume=fmt(v.max_lots),
                over_limit=_OVER[v.over_limit],
            )
            for v in config.volume_limits
        ],
        exposure_limits=[
            router_pb2.ExposureLimitConfig(symbol=s, max_net_volume=fmt(m))
            for s, m in config.exposure_limits
        ],
        symbols=[
            router_pb2.SymbolRoutingConfig(
                symbol=s,
                lot_step=fmt(r.lot_step),
                lp_fallback=_FALLBACK[r.lp_fallback],
                preferred_lps=list(r.preferred_lps),
            )
            for s, r in config.symbols
        ],
        flow_thresholds=[flow_threshold_message(t) for t in config.flow_thresholds],
        volatility_thresholds=[
            volatility_threshold_message(v) for v in config.volatility_thresholds
        ],
    )


def _opt(value: Decimal | None) -> str:
    return "" if value is None else fmt(value)


def flow_threshold_message(t: FlowThreshold) -> router_pb2.FlowThresholdConfig:
    return router_pb2.FlowThresholdConfig(
        threshold_id=t.threshold_id,
        client_group=t.client_group or "",
        min_closed_deals=t.min_closed_deals,
        net_profit_min=_opt(t.net_profit_min),
        win_rate_min=_opt(t.win_rate_min),
        min_markout_fills=t.min_markout_fills,
        toxicity_min_bps=_opt(t.toxicity_min_bps),
        latency_arb_share_min=_opt(t.latency_arb_share_min),
    )


def volatility_threshold_message(v: VolatilityThreshold) -> router_pb2.VolatilityThresholdConfig:
    return router_pb2.VolatilityThresholdConfig(
        threshold_id=v.threshold_id,
        symbol=v.symbol or "",
        max_bps=fmt(v.max_bps),
        book=_BOOKS[v.book],
        hedge_ratio=fmt(v.c_book_hedge_ratio),
    )


def rule_message(rule: RoutingRule) -> router_pb2.RoutingRuleConfig:
    return router_pb2.RoutingRuleConfig(
        rule_id=rule.rule_id,
        priority=rule.priority,
        client_group=rule.client_group or "",
        symbol=rule.symbol or "",
        book=_BOOKS[rule.book],
        hedge_ratio=fmt(rule.c_book_hedge_ratio),
        reason=rule.reason,
        enabled=rule.enabled,
    )


def change_response(result: ChangeResult) -> router_pb2.ChangeRoutingConfigResponse:
    return router_pb2.ChangeRoutingConfigResponse(
        version=result.version,
        before=config_message(result.before),
        after=config_message(result.after),
        created_rule_ids=list(result.created_rule_ids),
    )


def _book(value: int, field: str) -> Book:
    book = _BOOKS_IN.get(int(value))
    if book is None:
        raise InvalidArgument(
            f"{field} must be BOOK_A, BOOK_B or BOOK_C",
            reason="INVALID_BOOK",
            metadata={"field": field},
        )
    return book


def _ratio(value: str) -> Decimal:
    return parse_decimal(value, "hedge_ratio") if value.strip() else _ZERO


def _optional_lots(value: str, field: str) -> Decimal | None:
    return parse_decimal(value, field) if value.strip() else None


def _over(value: int) -> OverLimit:
    return _OVER_IN.get(int(value), OverLimit.SPLIT)


def _rule(message: router_pb2.RoutingRuleConfig) -> RoutingRule:
    return RoutingRule(
        rule_id=message.rule_id,
        priority=message.priority,
        client_group=message.client_group.strip() or None,
        symbol=message.symbol.strip() or None,
        book=_book(message.book, "book"),
        reason=message.reason.strip(),
        c_book_hedge_ratio=_ratio(message.hedge_ratio),
        enabled=message.enabled,
    )


def _edit(message: router_pb2.RoutingConfigEdit) -> Edit:
    kind = message.WhichOneof("edit")
    if kind == "set_execution_mode":
        m = message.set_execution_mode
        return SetExecutionMode(
            symbol=m.symbol.strip() or None,
            book=_book(m.book, "book"),
            hedge_ratio=_ratio(m.hedge_ratio),
            max_volume=_optional_lots(m.max_volume, "max_volume"),
            over_limit=_over(m.over_limit),
            fallback=_FALLBACK_IN.get(int(m.fallback)),
            preferred_lps=tuple(lp.strip() for lp in m.preferred_lps),
        )
    if kind == "remove_symbol_mode":
        return RemoveSymbolMode(message.remove_symbol_mode.strip())
    if kind == "put_override":
        o = message.put_override
        return PutOverride(
            AccountOverride(
                o.account_id.strip(),
                _book(o.book, "book"),
                o.reason.strip(),
                _ratio(o.hedge_ratio),
                o.enabled,
            )
        )
    if kind == "delete_override":
        return DeleteOverride(message.delete_override.strip())
    if kind == "create_rule":
        return CreateRule(_rule(message.create_rule))
    if kind == "update_rule":
        return UpdateRule(_rule(message.update_rule))
    if kind == "delete_rule":
        return DeleteRule(message.delete_rule)
    if kind == "set_volume_limit":
        v = message.set_volume_limit
        return SetVolumeLimit(
            v.client_group.strip() or None,
            v.symbol.strip() or None,
            _optional_lots(v.max_volume, "max_volume"),
            _over(v.over_limit),
        )
    if kind == "set_exposure_limit":
        e = message.set_exposure_limit
        return SetExposureLimit(
            e.symbol.strip(), _optional_lots(e.max_net_volume, "max_net_volume")
        )
    if kind == "set_flow_threshold":
        f = message.set_flow_threshold
        return SetFlowThreshold(
            FlowThreshold(
                threshold_id=0,
                client_group=f.client_group.strip() or None,
                min_closed_deals=f.min_closed_deals,
                net_profit_min=_optional_lots(f.net_profit_min, "net_profit_min"),
                win_rate_min=_optional_lots(f.win_rate_min, "win_rate_min"),
                min_markout_fills=f.min_markout_fills,
                toxicity_min_bps=_optional_lots(f.toxicity_min_bps, "toxicity_min_bps"),
                latency_arb_share_min=_optional_lots(
                    f.latency_arb_share_min, "latency_arb_share_min"
                ),
            )
        )
    if kind == "remove_flow_threshold":
        return RemoveFlowThreshold(message.remove_flow_threshold.client_group.strip() or None)
    if kind == "set_volatility_threshold":
        vt = message.set_volatility_threshold
        if not vt.max_bps.strip():
            raise InvalidArgument(
                "max_bps is required", reason=Reason.MISSING_FIELD, metadata={"field": "max_bps"}
            )
        return SetVolatilityThreshold(
            VolatilityThreshold(
                threshold_id=0,
                symbol=vt.symbol.strip() or None,
                max_bps=parse_decimal(vt.max_bps, "max_bps"),
                book=_book(vt.book, "book"),
                c_book_hedge_ratio=_ratio(vt.hedge_ratio),
            )
        )
    if kind == "remove_volatility_threshold":
        return RemoveVolatilityThreshold(message.remove_volatility_threshold.symbol.strip() or None)
    raise InvalidArgument(
        "an edit is empty", reason=Reason.MISSING_FIELD, metadata={"field": "edit"}
    )


def change_request(message: router_pb2.ChangeRoutingConfigRequest) -> ChangeRequest:
    return ChangeRequest(
        edits=tuple(_edit(e) for e in message.edits),
        expected_version=(
            message.expected_version if message.HasField("expected_version") else None
        ),
        actor=message.actor.strip(),
        note=message.note.strip(),
    )
