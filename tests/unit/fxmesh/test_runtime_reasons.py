"""Shared reasons stay declared once: no service spells a ``fxmesh.reasons.Reason`` as a literal.

The source of every service package (and of the runtime package) is read with ``ast``; a string
constant equal to a Reason's value anywhere outside ``fxmesh/reasons.py`` is a re-declaration
that would drift from the shared one. Tests may spell reasons as literals: they assert the wire.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fxmesh.reasons import Reason

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("admin", "bbook", "edge", "fixgw", "fxmesh", "oms", "quotes", "router")
HOME = ROOT / "fxmesh" / "reasons.py"
GENERATED = ROOT / "fxmesh" / "v1"
VALUES = frozenset(r.value for r in Reason)


def _sources(package: str) -> list[Path]:
    return [
        p
        for p in sorted((ROOT / package).rglob("*.py"))
        if p != HOME and GENERATED not in p.parents
    ]


def _reason_literals(source: str, filename: str) -> list[str]:
    """``file:line "VALUE"`` for each string constant in ``source`` equal to a Reason's value."""
    tree = ast.parse(source, filename)
    return [
        f"{filename}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in VALUES
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_service_source_when_scanned_then_no_shared_reason_spelled_as_a_literal(
    package: str,
) -> None:
    sources = _sources(package)
    assert sources, f"no source found for {package}"

    found = [
        hit
        for path in sources
        for hit in _reason_literals(path.read_text(), str(path.relative_to(ROOT)))
    ]

    assert found == [], "use fxmesh.reasons.Reason instead of: " + ", ".join(found)


def test_reason_literals_when_a_reason_is_spelled_then_it_is_found() -> None:
    source = 'REASON = "NO_QUOTE"\nraise_it(reason="MY_OWN_REASON", other=Reason.NO_QUOTE)\n'

    assert _reason_literals(source, "x.py") == ["x.py:1 'NO_QUOTE'"]


def test_reason_when_read_then_value_is_its_name_so_the_wire_is_unchanged() -> None:
    assert [r.value for r in Reason] == [r.name for r in Reason]
    assert all(r.value == r.value.upper() and " " not in r.value for r in Reason)


def test_reason_when_declared_then_each_member_says_who_raises_it_and_what_it_means() -> None:
    body = next(
        node
        for node in ast.parse(HOME.read_text()).body
        if isinstance(node, ast.ClassDef) and node.name == "Reason"
    ).body
    undocumented = [
        statement.targets[0].id
        for statement, following in zip(body, [*body[1:], None], strict=True)
        if isinstance(statement, ast.Assign)
        and isinstance(statement.targets[0], ast.Name)
        and not (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        )
    ]

    assert undocumented == []
