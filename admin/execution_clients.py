"""router's GetRoutingConfig / ChangeRoutingConfig and oms's GetBookSplit as the execution pages
see them (``admin.execution``): the one place their protobuf is read and written."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from admin.clients import upstream
from admin.execution import (
    BookShare,
    BookSplitReport,
    Changed,
    ClientOverride,
    Edit,
    ExposureThreshold,
    FlowThresholdRow,
    GroupRule,
    NewRule,
    RemoveOverride,
    RemoveRule,
    RemoveSymbol,
    RoutingConfigPort,
    RoutingSetup,
    SymbolMode,
    SymbolSettings,
    VenueShare,
    VolatilityThresholdRow,
    VolumeThreshold,
)
from fxmesh.money import fmt
from fxmesh.v1 import oms_pb2, router_pb2, types_pb2

if TYPE_CHECKING:
    from admin.clients import OmsStub, RouterStub

_BOOKS = {"A": types_pb2.BOOK_A, "B": types_pb2.BOOK_B, "C": types_pb2.BOOK_C}
_BOOKS_IN = {int(v): k for k, v in _BOOKS.items()}
OVER_OUT = {"A": router_pb2.OVER_LIMIT_A, "SPLIT": router_pb2.OVER_LIMIT_SPLIT}
_OVER_IN = {int(v): k for k, v in OVER_OUT.items()}
FALLBACK_OUT = {"B": router_pb2.LP_FALLBACK_B, "REJECT": router_pb2.LP_FALLBACK_REJECT}
_FALLBACK_IN = {int(v): k for k, v in FALLBACK_OUT.items()}


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def _opt(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def book_name(value: int) -> str:
    return _BOOKS_IN.get(int(value), "")


def over_limit_name(value: int) -> str:
    return _OVER_IN.get(int(value), "SPLIT")


def fallback_name(value: int) -> str:
    return _FALLBACK_IN.get(int(value), "REJECT")


def rule_from_proto(r: router_pb2.RoutingRuleConfig) -> GroupRule:
    return GroupRule(
        rule_id=r.rule_id,
        priority=r.priority,
        client_group=r.client_group or None,
        symbol=r.symbol or None,
        book=book_name(r.book),
        hedge_ratio=_dec(r.hedge_ratio),
        reason=r.reason,
        enabled=r.enabled,
    )


def rule_to_proto(r: GroupRule) -> router_pb2.RoutingRuleConfig:
    return router_pb2.RoutingRuleConfig(
        rule_id=r.rule_id,
        priority=r.priority,
        client_group=r.client_group or "",
        symbol=r.symbol or "",
        book=_BOOKS.get(r.book, types_pb2.BOOK_UNSPECIFIED),
        hedge_ratio=fmt(r.hedge_ratio),
        reason=r.reason,
        enabled=r.enabled,
    )


def override_from_proto(o: router_pb2.AccountOverrideConfig) -> ClientOverride:
    return ClientOverride(o.account_id, book_name(o.book), _dec(o.hedge_ratio), o.reason, o.enabled)


def override_to_proto(o: ClientOverride) -> router_pb2.AccountOverrideConfig:
    return router_pb2.AccountOverrideConfig(
        account_id=o.account_id,
        book=_BOOKS.get(o.book, types_pb2.BOOK_UNSPECIFIED),
        hedge_ratio=fmt(o.hedge_ratio),
        reason=o.reason,
        enabled=o.enabled,
    )


def volume_from_proto(v: router_pb2.VolumeLimitConfig) -> VolumeThreshold:
    return VolumeThreshold(
        v.client_group or None, v.symbol or None, _opt(v.max_volume), over_limit_name(v.over_limit)
    )


def volume_to_proto(v: VolumeThreshold) -> router_pb2.VolumeLimitConfig:
    return router_pb2.VolumeLimitConfig(
        client_group=v.client_group or "",
        symbol=v.symbol or "",
        max_volume=fmt(v.max_volume),
        over_limit=OVER_OUT[v.over_limit],
    )


def exposure_from_proto(e: router_pb2.ExposureLimitConfig) -> ExposureThreshold:
    return ExposureThreshold(e.symbol, _opt(e.max_net_volume))


def exposure_to_proto(e: ExposureThreshold) -> router_pb2.ExposureLimitConfig:
    return router_pb2.ExposureLimitConfig(symbol=e.symbol, max_net_volume=fmt(e.max_net_volume))


def flow_from_proto(f: router_pb2.FlowThresholdConfig) -> FlowThresholdRow:
    return FlowThresholdRow(
        client_group=f.client_group or None,
        min_closed_deals=f.min_closed_deals,
        net_profit_min=_opt(f.net_profit_min),
        win_rate_min=_opt(f.win_rate_min),
        min_markout_fills=f.min_markout_fills,
        toxicity_min_bps=_opt(f.toxicity_min_bps),
        latency_arb_share_min=_opt(f.latency_arb_share_min),
    )


def flow_to_proto(f: FlowThresholdRow) -> router_pb2.FlowThresholdConfig:
    return router_pb2.FlowThresholdConfig(
        client_group=f.client_group or "",
        min_closed_deals=f.min_closed_deals,
        net_profit_min=fmt(f.net_profit_min),
        win_rate_min=fmt(f.win_rate_min),
        min_markout_fills=f.min_markout_fills,
        toxicity_min_bps=fmt(f.toxicity_min_bps),
        latency_arb_share_min=fmt(f.latency_arb_share_min),
    )


def volatility_from_proto(v: router_pb2.VolatilityThresholdConfig) -> VolatilityThresholdRow:
    return VolatilityThresholdRow(
        v.symbol or None, _dec(v.max_bps), book_name(v.book), _dec(v.hedge_ratio)
    )


def volatility_to_proto(v: VolatilityThresholdRow) -> router_pb2.VolatilityThresholdConfig:
    return router_pb2.VolatilityThresholdConfig(
        symbol=v.symbol or "",
        max_bps=fmt(v.max_bps),
        book=_BOOKS.get(v.book, types_pb2.BOOK_UNSPECIFIED),
        hedge_ratio=fmt(v.hedge_ratio),
    )


def mode_to_proto(m: SymbolMode) -> router_pb2.SetExecutionMode:
    return router_pb2.SetExecutionMode(
        symbol=m.symbol or "",
        book=_BOOKS.get(m.book, types_pb2.BOOK_UNSPECIFIED),
        hedge_ratio=fmt(m.hedge_ratio),
        max_volume=fmt(m.max_volume),
        over_limit=OVER_OUT[m.over_limit],
        fallback=FALLBACK_OUT[m.fallback] if m.fallback else router_pb2.LP_FALLBACK_UNSPECIFIED,
        preferred_lps=list(m.priority_lps),
    )


def setup_from_proto(c: router_pb2.RoutingConfig) -> RoutingSetup:
    return RoutingSetup(
        version=c.version,
        rules=tuple(rule_from_proto(r) for r in c.rules),
        overrides=tuple(override_from_proto(o) for o in c.overrides),
        volume_limits=tuple(volume_from_proto(v) for v in c.volume_limits),
        exposure_limits=tuple(exposure_from_proto(e) for e in c.exposure_limits),
        symbols=tuple(
            SymbolSettings(
                s.symbol, _dec(s.lot_step), fallback_name(s.lp_fallback), tuple(s.preferred_lps)
            )
            for s in c.symbols
        ),
        flow_thresholds=tuple(flow_from_proto(f) for f in c.flow_thresholds),
        volatility_thresholds=tuple(volatility_from_proto(v) for v in c.volatility_thresholds),
    )


def _edit(edit: Edit) -> router_pb2.RoutingConfigEdit:
    if isinstance(edit, SymbolMode):
        return router_pb2.RoutingConfigEdit(set_execution_mode=mode_to_proto(edit))
    if isinstance(edit, RemoveSymbol):
        return router_pb2.RoutingConfigEdit(remove_symbol_mode=edit.symbol)
    if isinstance(edit, ClientOverride):
        return router_pb2.RoutingConfigEdit(put_override=override_to_proto(edit))
    if isinstance(edit, RemoveOverride):
        return router_pb2.RoutingConfigEdit(delete_override=edit.account_id)
    if isinstance(edit, NewRule):
        return router_pb2.RoutingConfigEdit(create_rule=rule_to_proto(edit.rule))
    if isinstance(edit, GroupRule):
        return router_pb2.RoutingConfigEdit(update_rule=rule_to_proto(edit))
    if isinstance(edit, RemoveRule):
        return router_pb2.RoutingConfigEdit(delete_rule=edit.rule_id)
    if isinstance(edit, VolumeThreshold):
        return router_pb2.RoutingConfigEdit(set_volume_limit=volume_to_proto(edit))
    if isinstance(edit, FlowThresholdRow):
        if edit.remove:
            return router_pb2.RoutingConfigEdit(
                remove_flow_threshold=router_pb2.RemoveFlowThreshold(
                    client_group=edit.client_group or ""
                )
            )
        return router_pb2.RoutingConfigEdit(set_flow_threshold=flow_to_proto(edit))
    if isinstance(edit, VolatilityThresholdRow):
        if edit.remove:
            return router_pb2.RoutingConfigEdit(
                remove_volatility_threshold=router_pb2.RemoveVolatilityThreshold(
                    symbol=edit.symbol or ""
                )
            )
        return router_pb2.RoutingConfigEdit(set_volatility_threshold=volatility_to_proto(edit))
    return router_pb2.RoutingConfigEdit(set_exposure_limit=exposure_to_proto(edit))


def book_split_from_proto(reply: oms_pb2.GetBookSplitResponse) -> BookSplitReport:
    return BookSplitReport(
        start=reply.from_time.ToDatetime(tzinfo=UTC),
        end=reply.to_time.ToDatetime(tzinfo=UTC),
        total_volume=_dec(reply.total_volume),
        books=tuple(
            BookShare(
                book=book_name(b.book),
                deals=b.deals,
                volume=_dec(b.volume),
                volume_percent=_dec(b.volume_percent),
                realized_pnl=_dec(b.realized_pnl),
                commission=_dec(b.commission),
                swap=_dec(b.swap),
                client_net=_dec(b.client_net),
                venues=tuple(
                    VenueShare(
                        v.venue, book_name(v.book), v.deals, _dec(v.volume), _dec(v.client_net)
                    )
                    for v in b.venues
                ),
            )
            for b in reply.books
        ),
    )


def book_split_to_proto(report: BookSplitReport) -> oms_pb2.GetBookSplitResponse:
    reply = oms_pb2.GetBookSplitResponse(
        total_volume=fmt(report.total_volume),
        books=[
            oms_pb2.BookSplit(
                book=_BOOKS.get(b.book, types_pb2.BOOK_UNSPECIFIED),
                deals=b.deals,
                volume=fmt(b.volume),
                volume_percent=fmt(b.volume_percent),
                realized_pnl=fmt(b.realized_pnl),
                commission=fmt(b.commission),
                swap=fmt(b.swap),
                client_net=fmt(b.client_net),
                venues=[
                    oms_pb2.VenueSplit(
                        venue=v.venue,
                        book=_BOOKS.get(v.book, types_pb2.BOOK_UNSPECIFIED),
                        deals=v.deals,
                        volume=fmt(v.volume),
                        client_net=fmt(v.client_net),
                    )
                    for v in b.venues
                ],
            )
            for b in report.books
        ],
    )
    reply.from_time.FromDatetime(report.start)
    reply.to_time.FromDatetime(report.end)
    return reply


class ExecutionClients(RoutingConfigPort):
    """router's routing configuration and oms's accounts and book split."""

    def __init__(self, router: RouterStub, oms: OmsStub, deadline: float) -> None:
        self._router = router
        self._oms = oms
        self._deadline = deadline

    async def setup(self) -> RoutingSetup:
        reply = await upstream(
            self._router.GetRoutingConfig(
                router_pb2.GetRoutingConfigRequest(), timeout=self._deadline
            )
        )
        return setup_from_proto(reply.config)

    async def change(
        self, edits: list[Edit], expected_version: int | None, actor: str, note: str
    ) -> Changed:
        request = router_pb2.ChangeRoutingConfigRequest(
            edits=[_edit(e) for e in edits], actor=actor, note=note
        )
        if expected_version is not None:
            request.expected_version = expected_version
        reply = await upstream(self._router.ChangeRoutingConfig(request, timeout=self._deadline))
        return Changed(
            reply.version,
            setup_from_proto(reply.before),
            setup_from_proto(reply.after),
            tuple(reply.created_rule_ids),
        )

    async def account_exists(self, account_id: str) -> None:
        await upstream(
            self._oms.GetAccountSummary(
                oms_pb2.GetAccountSummaryRequest(account_id=account_id), timeout=self._deadline
            )
        )

    async def book_split(self, start: datetime | None, end: datetime | None) -> BookSplitReport:
        request = oms_pb2.GetBookSplitRequest()
        if start is not None:
            request.from_time.FromDatetime(start)
        if end is not None:
            request.to_time.FromDatetime(end)
        reply = await upstream(self._oms.GetBookSplit(request, timeout=self._deadline))
        return book_split_from_proto(reply)
