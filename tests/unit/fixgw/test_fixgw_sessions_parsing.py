"""Order-flow parsing (35=8/9/j/3), LP dialects and per-LP session configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix
from pydantic import ValidationError

from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig, OrderStyle, QtyUnit
from fixgw.domain import BookEntry, MarketDataUpdate, map_update_symbols, normalize_exec_type
from fixgw.fixmsg import (
    read_business_reject,
    read_cancel_reject,
    read_execution_report,
    read_session_reject,
    set_str,
)

RECEIVED = datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC)


def message(
    msg_type: str, fields: list[tuple[int, str]], header: dict[int, str] | None = None
) -> fix.Message:
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in (header or {}).items():
        msg.getHeader().setField(fix.StringField(tag, value))
    for tag, value in fields:
        set_str(msg, tag, value)
    return msg


FULL_REPORT = [
    (37, "LPO-9"),
    (11, "FXM12-2"),
    (41, "FXM12-1"),
    (17, "E-1"),
    (150, "F"),
    (39, "1"),
    (55, "EUR/USD"),
    (54, "2"),
    (32, "0.5"),
    (31, "1.08457"),
    (14, "0.5"),
    (151, "0.5"),
    (6, "1.08457"),
    (58, "partial"),
    (60, "20250102-03:04:05.678"),
    (9123, "lp-custom"),
]


def test_execution_report_when_full_then_every_field_exact() -> None:
    msg = message("8", FULL_REPORT, {34: "41", 97: "Y"})

    report = read_execution_report("LP1", msg, {"EUR/USD": "EURUSD"}, RECEIVED)

    assert report.lp == "LP1"
    assert (report.cl_ord_id, report.orig_cl_ord_id, report.order_id, report.exec_id) == (
        "FXM12-2",
        "FXM12-1",
        "LPO-9",
        "E-1",
    )
    assert (report.exec_type, report.exec_type_raw, report.ord_status) == ("F", "F", "1")
    assert (report.symbol, report.lp_symbol, report.side) == ("EURUSD", "EUR/USD", "2")
    assert report.last_qty == Decimal("0.5")
    assert str(report.last_px) == "1.08457"
    assert (report.cum_qty, report.leaves_qty) == (Decimal("0.5"), Decimal("0.5"))
    assert report.avg_px == Decimal("1.08457")
    assert report.text == "partial"
    assert report.transact_time == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert report.poss_dup is False
    assert report.poss_resend is True
    assert report.received_at == RECEIVED
    assert report.seq_num == 41
    assert report.ord_rej_reason is None


@pytest.mark.parametrize(("sent", "normalized"), [("1", "F"), ("2", "F"), ("F", "F"), ("8", "8")])
def test_execution_report_when_legacy_exec_type_then_read_as_trade(
    sent: str, normalized: str
) -> None:
    msg = message("8", [(11, "C"), (17, "E"), (150, sent), (39, "2")])

    report = read_execution_report("LP1", msg)

    assert report.exec_type == normalized
    assert report.exec_type_raw == sent
    assert normalize_exec_type(sent) == normalized


def test_execution_report_when_optional_fields_missing_then_none_not_failure() -> None:
    msg = message("8", [(11, "FXM1-1"), (150, "8"), (103, "99")], {43: "Y"})

    report = read_execution_report("LP1", msg)

    assert report.cl_ord_id == "FXM1-1"
    assert (report.exec_id, report.order_id, report.symbol) == ("", "", "")
    missing = (report.last_qty, report.last_px, report.avg_px, report.cum_qty, report.leaves_qty)
    assert missing == (None,) * 5
    assert (report.transact_time, report.text, report.orig_cl_ord_id) == (None, None, None)
    assert report.ord_rej_reason == "99"
    assert report.poss_dup is True
    assert report.received_at is not None


def test_execution_report_when_price_malformed_then_none() -> None:
    msg = message("8", [(11, "C"), (31, "1.0e5"), (32, "abc")])

    report = read_execution_report("LP1", msg)

    assert (report.last_px, report.last_qty) == (None, None)


def test_cancel_reject_when_read_then_fields() -> None:
    msg = message(
        "9",
        [
            (37, "LPO-1"),
            (11, "C-2"),
            (41, "C-1"),
            (39, "2"),
            (434, "1"),
            (102, "0"),
            (58, "filled"),
        ],
        {43: "Y"},
    )

    reject = read_cancel_reject("LP1", msg, RECEIVED)

    assert (reject.lp, reject.cl_ord_id, reject.orig_cl_ord_id, reject.order_id) == (
        "LP1",
        "C-2",
        "C-1",
        "LPO-1",
    )
    assert (reject.ord_status, reject.response_to, reject.reason, reject.text) == (
        "2",
        "1",
        "0",
        "filled",
    )
    assert reject.poss_dup is True
    assert reject.received_at == RECEIVED


def test_business_reject_when_read_then_ref_id_and_text() -> None:
    msg = message("j", [(45, "17"), (372, "D"), (379, "FXM3-1"), (380, "4"), (58, "no limit")])

    reject = read_business_reject("LP1", msg)

    assert (reject.ref_seq_num, reject.ref_msg_type, reject.ref_id, reject.reason, reject.text) == (
        17,
        "D",
        "FXM3-1",
        "4",
        "no limit",
    )
    assert reject.poss_dup is False


def test_business_reject_when_minimal_then_optional_none() -> None:
    reject = read_business_reject("LP1", message("j", [(372, "D"), (380, "0")]))

    assert (reject.ref_id, reject.ref_seq_num, reject.text) == (None, None, None)


def test_session_reject_when_read_then_ref_seq_and_reason() -> None:
    msg = message(
        "3", [(45, "23"), (372, "D"), (371, "44"), (373, "5"), (58, "Value is incorrect")]
    )

    reject = read_session_reject("LP1", msg, RECEIVED)

    assert (reject.ref_seq_num, reject.ref_msg_type, reject.ref_tag, reject.reason) == (
        23,
        "D",
        44,
        "5",
    )
    assert reject.text == "Value is incorrect"


def test_session_reject_when_ref_seq_malformed_then_none() -> None:
    reject = read_session_reject("LP1", message("3", [(45, "x1")]))

    assert (reject.ref_seq_num, reject.ref_msg_type) == (None, None)


def test_map_update_symbols_when_mapped_then_broker_names() -> None:
    update = MarketDataUpdate(
        lp="LP1",
        full_refresh=True,
        entries=(
            BookEntry("EUR/USD", "0", Decimal("1.1"), None),
            BookEntry("XAU", "1", Decimal(2000), None),
        ),
        skipped=(),
        lp_time=None,
        received_monotonic=0.0,
    )

    mapped = map_update_symbols(update, {"EUR/USD": "EURUSD"})

    assert [e.symbol for e in mapped.entries] == ["EURUSD", "XAU"]
    assert map_update_symbols(update, {}) is update


# -- configuration --------------------------------------------------------------------------


def lp_config(**kwargs: object) -> LpConfig:
    return LpConfig.model_validate(
        {"name": "LP1", "host": "h", "port": 1, "target_comp_id": "T", **kwargs}
    )


def test_lp_config_when_defaults_then_persistent_market_units() -> None:
    lp = lp_config()

    assert lp.order_style is OrderStyle.MARKET
    assert lp.qty_unit is QtyUnit.UNITS
    assert lp.limit_slippage == Decimal("0.0005")
    assert lp.reset_on_logon is False
    assert lp.order_timeout_seconds == 2.0
    options = lp.session_options()
    assert options.reset_on_logon is False
    assert options.data_dictionary == engine.FIX44_XML
    assert lp.lp_symbol("EURUSD") == "EURUSD"


def test_lp_config_when_symbol_map_then_both_ways() -> None:
    lp = lp_config(symbol_map={"EURUSD": "EUR/USD", "XAUUSD": "XAU/USD"}, order_style="LIMIT_IOC")

    assert lp.lp_symbol("EURUSD") == "EUR/USD"
    assert lp.broker_symbols() == {"EUR/USD": "EURUSD", "XAU/USD": "XAUUSD"}
    assert lp.order_style is OrderStyle.LIMIT_IOC


def test_lp_config_when_symbol_map_not_one_to_one_then_invalid() -> None:
    with pytest.raises(ValidationError):
        lp_config(symbol_map={"EURUSD": "EU", "EURUSD.m": "EU"})


def test_initiator_settings_when_lp_options_then_per_session_dictionary(tmp_path: Path) -> None:
    lp = lp_config(
        reset_on_logon=True,
        data_dictionary="/x/FIX44-lp.xml",
        validate_fields_out_of_order=False,
        allow_unknown_msg_fields=False,
        heartbeat_seconds=5,
    )
    spec = engine.SessionSpec("FXMESH", "T")
    other = engine.SessionSpec("FXMESH", "U")

    settings = engine.initiator_settings(
        tmp_path,
        [(spec, "h", 1), (other, "h", 2)],
        30,
        1,
        options={spec: lp.session_options(), other: lp_config().session_options()},
    )

    mine = settings.get(spec.session_id())
    assert mine.getString("ResetOnLogon") == "Y"
    assert mine.getString("ResetOnDisconnect") == "Y"
    assert mine.getString("DataDictionary") == "/x/FIX44-lp.xml"
    assert mine.getString("ValidateFieldsOutOfOrder") == "N"
    assert mine.getString("AllowUnknownMsgFields") == "N"
    assert mine.getString("ValidateUserDefinedFields") == "N"
    assert mine.getString("HeartBtInt") == "5"
    theirs = settings.get(other.session_id())
    assert theirs.getString("ResetOnLogon") == "N"
    assert theirs.getString("ResetOnLogout") == "N"
    assert theirs.getString("HeartBtInt") == "30"


def test_acceptor_settings_when_reset_flag_then_applied(tmp_path: Path) -> None:
    spec = engine.SessionSpec("LPSIM", "FXMESH")

    kept = engine.acceptor_settings(tmp_path, "lp", 1, [spec], reset_on_logon=False)
    default = engine.acceptor_settings(tmp_path, "lp2", 1, [spec])

    assert kept.get(spec.session_id()).getString("ResetOnLogon") == "N"
    assert default.get(spec.session_id()).getString("ResetOnLogon") == "Y"


def test_settings_when_symbol_lps_json_then_priority_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FXMESH_FIXGW_LPS",
        '[{"name": "LP1", "host": "h", "port": 1, "target_comp_id": "A"},'
        ' {"name": "LP2", "host": "h", "port": 2, "target_comp_id": "B",'
        '  "symbol_map": {"EURUSD": "EUR/USD"}, "qty_unit": "LOTS"}]',
    )
    monkeypatch.setenv("FXMESH_FIXGW_SYMBOL_LPS", '{"EURUSD": ["LP2", "LP1"]}')

    settings = FixgwSettings()

    assert settings.fixgw_symbol_lps == {"EURUSD": ["LP2", "LP1"]}
    assert [lp.name for lp in settings.lps()] == ["LP1", "LP2"]
    assert settings.lps()[1].qty_unit is QtyUnit.LOTS


def test_settings_when_symbol_lps_names_unknown_lp_then_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FXMESH_FIXGW_SYMBOL_LPS", '{"EURUSD": ["LPX"]}')

    with pytest.raises(ValidationError):
        FixgwSettings()


def test_settings_when_single_default_lp_then_still_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FXMESH_FIXGW_LP_NAME", "LPA")
    monkeypatch.setenv("FXMESH_FIXGW_LP_PORT", "9999")
    monkeypatch.setenv("FXMESH_FIXGW_TARGET_COMP_ID", "LPAX")

    (lp,) = FixgwSettings().lps()

    assert (lp.name, lp.port, lp.target_comp_id, lp.reset_on_logon) == ("LPA", 9999, "LPAX", False)
