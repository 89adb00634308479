"""Market-data parsing: FIX strings become exact Decimals; malformed entries are skipped by reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import quickfix as fix
import quickfix44 as fix44

from fixgw.domain import (
    MalformedDecimal,
    RawEntry,
    SkipReason,
    TopOfBook,
    build_update,
    parse_fix_decimal,
    parse_sending_time,
    validate_entry,
)
from fixgw.fixmsg import (
    _read_market_data_fields,
    _scan_market_data,
    market_data_request,
    md_request_symbols,
    read_market_data,
    set_str,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.08450", Decimal("1.08450")),
        ("151.5", Decimal("151.5")),
        ("67000", Decimal(67000)),
        (" 0.1 ", Decimal("0.1")),
        (".5", Decimal("0.5")),
    ],
)
def test_parse_fix_decimal_when_plain_decimal_then_exact_value(
    text: str, expected: Decimal
) -> None:
    value = parse_fix_decimal(text)
    assert value == expected
    assert str(value) == text.strip() or text.startswith(".")


@pytest.mark.parametrize("text", ["", "abc", "1e5", "NaN", "Infinity", "1,084", "1.2.3", "--1"])
def test_parse_fix_decimal_when_malformed_then_raises(text: str) -> None:
    with pytest.raises(MalformedDecimal):
        parse_fix_decimal(text)


def test_parse_sending_time_when_millis_then_aware_utc() -> None:
    assert parse_sending_time("20250102-03:04:05.678") == datetime(
        2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC
    )
    assert parse_sending_time("garbage") is None


@pytest.mark.parametrize(
    "text",
    [
        "20250102-03:04:05",
        "20250102-03:04:05.6",
        "20250102-03:04:05.678901",
        "20251231-23:59:59.999",
        "20250230-03:04:05.678",  # no 30 February
        "20250102-03:04:60",  # no leap seconds
        "20250102-3:4:5",  # short fields: strptime's call
        "20250102-03:04:05.1234567",
        "20250102 03:04:05",
        "",
    ],
)
def test_parse_sending_time_when_any_shape_then_same_as_strptime(text: str) -> None:
    expected: datetime | None = None
    for fmt in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            expected = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue

    assert parse_sending_time(text) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (RawEntry(None, "0", "1.1"), SkipReason.MISSING_SYMBOL),
        (RawEntry("EURUSD", None, "1.1"), SkipReason.MISSING_ENTRY_TYPE),
        (RawEntry("EURUSD", "2", "1.1"), SkipReason.UNSUPPORTED_ENTRY_TYPE),
        (RawEntry("EURUSD", "0", None), SkipReason.MISSING_PRICE),
        (RawEntry("EURUSD", "0", "1.1x"), SkipReason.MALFORMED_PRICE),
        (RawEntry("EURUSD", "0", "0"), SkipReason.NON_POSITIVE_PRICE),
        (RawEntry("EURUSD", "0", "1.1", size="lots"), SkipReason.MALFORMED_SIZE),
        (RawEntry("EURUSD", "0", "1.1", update_action="2"), SkipReason.DELETE_ACTION),
    ],
)
def test_validate_entry_when_unusable_then_named_reason(raw: RawEntry, reason: SkipReason) -> None:
    assert validate_entry(raw, None) == reason


def test_top_of_book_when_both_sides_known_then_tick_with_exact_prices() -> None:
    book = TopOfBook("LPSIM")
    now = datetime(2025, 1, 1, tzinfo=UTC)
    bid_only = build_update("LPSIM", False, [RawEntry("EURUSD", "0", "1.08450")], None, None, 1.0)
    assert book.apply(bid_only, now) == []

    both = build_update(
        "LPSIM",
        False,
        [RawEntry("EURUSD", "1", "1.08460"), RawEntry("EURUSD", "0", "oops")],
        None,
        None,
        2.0,
    )
    ticks = book.apply(both, now)

    assert [(t.symbol, t.bid, t.ask, t.source, t.lp_time) for t in ticks] == [
        ("EURUSD", Decimal("1.08450"), Decimal("1.08460"), "LPSIM", now)
    ]
    assert both.skipped == (SkipReason.MALFORMED_PRICE,)


def _snapshot(symbol: str, entries: list[tuple[str, str]]) -> fix.Message:
    msg = fix44.MarketDataSnapshotFullRefresh()
    set_str(msg, 55, symbol)
    set_str(msg, 262, "r1")
    msg.getHeader().setField(fix.StringField(52, "20250102-03:04:05.678"))
    for entry_type, px in entries:
        group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
        set_str(group, 269, entry_type)
        set_str(group, 270, px)
        msg.addGroup(group)
    return msg


def test_read_market_data_when_snapshot_then_decimals_from_strings_and_lp_time() -> None:
    update = read_market_data("LPSIM", _snapshot("USDJPY", [("0", "151.499"), ("1", "151.501")]))

    assert update.full_refresh is True
    assert [(e.symbol, e.side, e.price) for e in update.entries] == [
        ("USDJPY", "0", Decimal("151.499")),
        ("USDJPY", "1", Decimal("151.501")),
    ]
    assert str(update.entries[0].price) == "151.499"
    assert update.lp_time == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert update.skipped == ()


def test_read_market_data_when_price_malformed_then_entry_skipped_and_counted() -> None:
    update = read_market_data("LPSIM", _snapshot("EURUSD", [("0", "1.0845O"), ("1", "1.08460")]))

    assert [e.side for e in update.entries] == ["1"]
    assert update.skipped == (SkipReason.MALFORMED_PRICE,)


def test_read_market_data_when_incremental_then_symbol_per_entry() -> None:
    msg = fix44.MarketDataIncrementalRefresh()
    for symbol, entry_type, px in (("EURUSD", "0", "1.1"), ("GBPUSD", "1", "1.3")):
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        set_str(group, 279, "1")
        set_str(group, 269, entry_type)
        set_str(group, 55, symbol)
        set_str(group, 270, px)
        msg.addGroup(group)

    update = read_market_data("LPSIM", msg)

    assert update.full_refresh is False
    assert [(e.symbol, e.price) for e in update.entries] == [
        ("EURUSD", Decimal("1.1")),
        ("GBPUSD", Decimal("1.3")),
    ]


def test_market_data_request_when_built_then_top_of_book_subscription_for_symbol() -> None:
    msg = market_data_request("req-1", "XAUUSD")

    assert msg.getField(263) == "1"
    assert msg.getField(264) == "1"
    assert md_request_symbols(msg) == ["XAUUSD"]


def _incremental(entries: list[dict[int, str]]) -> fix.Message:
    msg = fix44.MarketDataIncrementalRefresh()
    set_str(msg, 262, "r1")
    msg.getHeader().setField(fix.StringField(52, "20250102-03:04:05.678"))
    for fields in entries:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        for tag, value in fields.items():
            set_str(group, tag, value)
        msg.addGroup(group)
    return msg


@pytest.mark.parametrize(
    ("message", "full"),
    [
        (_snapshot("USDJPY", [("0", "151.499"), ("1", "151.501")]), True),
        (_snapshot("EURUSD", [("0", "1.0845O"), ("1", "")]), True),
        (_snapshot("EURUSD", []), True),
        (
            _incremental(
                [
                    {279: "1", 269: "0", 55: "EURUSD", 270: "1.08450", 271: "1000000"},
                    {270: "1.08452", 269: "1", 279: "0", 55: "EURUSD"},  # set out of order
                    {279: "2", 269: "1", 55: "GBPUSD"},
                    {279: "1", 269: "2", 55: "GBPUSD", 270: "1.3", 271: "1e6"},
                ]
            ),
            False,
        ),
    ],
)
def test_market_data_scan_when_message_read_then_same_fields_as_quickfix_accessors(
    message: fix.Message, full: bool
) -> None:
    assert _scan_market_data(message.toString(), full) == _read_market_data_fields(message, full)


def test_market_data_scan_when_data_field_or_count_mismatch_then_left_to_quickfix() -> None:
    text = _incremental([{279: "1", 269: "0", 55: "EURUSD", 270: "1.1"}]).toString()

    assert _scan_market_data(text.replace("\x01268=1\x01", "\x01268=2\x01"), False) is None
    assert (
        _scan_market_data(text.replace("\x01262=", "\x0195=3\x0196=a\x01b\x01262="), False) is None
    )
