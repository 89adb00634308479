"""oms's rooms stay rooms: no import cycle between its modules, and every import points inwards.

The layers, inside out: ``domain`` (pure) <- ``store`` <- ``trading`` <- ``triggers`` / ``api``
(side by side, neither imports the other) <- the wiring (``oms``, ``oms.__main__``,
``oms.server``). ``oms.config`` and ``oms.seed`` stand apart. The imports are read from the source
(``ast``), including those inside functions and ``TYPE_CHECKING`` blocks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OMS = ROOT / "oms"

# What each room may import of oms (itself included).
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "store": {"domain", "store"},
    "trading": {"domain", "store", "trading"},
    "triggers": {"domain", "trading", "triggers"},
    "api": {"domain", "trading", "api"},
    "config": set(),
    "seed": set(),
    "wiring": {"domain", "store", "trading", "triggers", "api", "config", "wiring"},
}
# Third-party and runtime packages a room must not touch (the domain is pure; protobuf in api only).
FORBIDDEN_OUTSIDE: dict[str, tuple[str, ...]] = {
    "domain": ("asyncpg", "grpc", "redis", "aio_pika", "google.protobuf", "fxmesh.v1", "fxmesh.db"),
    "store": ("grpc", "redis", "google.protobuf", "fxmesh.v1"),
    "trading": ("asyncpg", "grpc", "google.protobuf", "fxmesh.v1"),
    "triggers": ("asyncpg", "grpc", "google.protobuf", "fxmesh.v1"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(OMS.rglob("*.py"))}


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "server"):
        return "wiring"
    return parts[1]


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """Every module ``module`` imports (absolute names), with the line of the import."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}:{node.lineno}: relative import"
            assert node.module is not None
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                yield (child if child in MODULES else node.module), node.lineno


def _oms_edges() -> dict[str, set[str]]:
    return {m: {name for name, _ in _imports(m) if name in MODULES and name != m} for m in MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_oms_modules_when_imports_read_then_every_room_is_known() -> None:
    assert len(MODULES) > 30
    assert {_room(m) for m in MODULES} <= set(ALLOWED)


def test_oms_imports_when_followed_then_no_cycle() -> None:
    assert _cycles(_oms_edges()) == []


def test_cycle_finder_when_two_modules_import_each_other_then_reports_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _cycles(edges) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_oms_module_when_imports_read_then_only_inner_rooms(module: str) -> None:
    room = _room(module)
    wrong = [
        f"{module}:{line} imports {name} ({_room(name)})"
        for name, line in _imports(module)
        if name in MODULES and name != module and _room(name) not in ALLOWED[room]
    ]
    assert wrong == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "oms"))
def test_oms_module_when_imports_read_then_never_the_public_face(module: str) -> None:
    """Inside oms, modules import each other, never ``oms`` itself (its face imports them all)."""
    assert [line for name, line in _imports(module) if name == "oms"] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _room(m) in FORBIDDEN_OUTSIDE))
def test_oms_module_when_imports_read_then_no_infrastructure_of_other_rooms(module: str) -> None:
    banned = FORBIDDEN_OUTSIDE[_room(module)]
    wrong = [
        f"{module}:{line} imports {name}"
        for name, line in _imports(module)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert wrong == []
