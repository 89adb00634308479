"""Routing rules: first enabled match by priority, default B-book."""

from __future__ import annotations

from router.domain import Book, Decision, RoutingRule, decide


def rule(
    rule_id: int,
    priority: int,
    group: str | None,
    symbol: str | None,
    book: Book,
    reason: str,
    enabled: bool = True,
) -> RoutingRule:
    return RoutingRule(rule_id, priority, group, symbol, book, reason, enabled=enabled)


def test_decide_when_no_rules_then_default_b_book() -> None:
    assert decide([], "standard", "EURUSD") == Decision(Book.B, "DEFAULT_B_BOOK")


def test_decide_when_several_rules_match_then_lowest_priority_wins() -> None:
    rules = [
        rule(1, 20, None, "EURUSD", Book.B, "EURUSD_B_BOOK"),
        rule(2, 10, "vip", None, Book.A, "GROUP_VIP_A_BOOK"),
    ]

    assert decide(rules, "vip", "EURUSD").reason == "GROUP_VIP_A_BOOK"
    assert decide(rules, "standard", "EURUSD").reason == "EURUSD_B_BOOK"
    assert decide(rules, "standard", "GBPUSD").reason == "DEFAULT_B_BOOK"


def test_decide_when_rule_disabled_then_skips_it() -> None:
    rules = [rule(1, 1, "vip", None, Book.A, "GROUP_VIP_A_BOOK", enabled=False)]

    assert decide(rules, "vip", "EURUSD").book is Book.B


def test_decide_when_priorities_tie_then_older_rule_wins() -> None:
    rules = [rule(7, 5, None, None, Book.C, "LATER"), rule(3, 5, None, None, Book.A, "EARLIER")]

    assert decide(rules, "x", "EURUSD") == Decision(Book.A, "EARLIER", 3)
