"""admin keeps protobuf at its edge: only the boundary modules import the generated contracts.

The boundary is ``admin.convert`` and ``admin.symbols_convert`` (protobuf <-> domain),
``admin.clients`` (the oms, fixgw and router RPCs admin calls; ``admin.execution_clients`` /
``admin.execution_convert`` for the execution pages), ``admin.servicer`` (the gRPC
AdminService) and the wiring
(``admin.server``, ``python -m admin``). Every other module (the use cases ``service``, ``accounts``, ``liquidity``, ``users``,
``system``, ``audit``, ``gate``; the domain; the JSON documents; the REST routes) works in admin's
domain types: it imports neither ``fxmesh.v1`` nor ``google.protobuf``, nor the boundary's
converters and servicer. The imports are read from the source (``ast``), including those inside
functions and ``TYPE_CHECKING`` blocks. (``admin.system``'s probes use ``grpc_health``'s own
stubs: the standard gRPC health check, not one of our contracts.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ADMIN = ROOT / "admin"

BOUNDARY = {
    "admin.convert",
    "admin.clients",
    "admin.servicer",
    "admin.server",
    "admin.__main__",
    "admin.symbols_convert",
    # The execution pages' own boundary: router's / oms's RPCs, and their AdminService messages.
    "admin.execution_clients",
    "admin.execution_convert",
    # quotes's group markup RPCs and their messages (admin.markups works in its own types).
    "admin.markups_clients",
}
PROTOBUF = ("fxmesh.v1", "google.protobuf")
# Boundary modules the rest of admin must not reach for: the converters and the gRPC side.
# (``admin.clients`` is what the use cases are handed, so they may name it.)
CONVERTERS = (
    "admin.convert",
    "admin.servicer",
    "admin.server",
    "admin.symbols_convert",
    "admin.execution_convert",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ADMIN.rglob("*.py"))}
INSIDE = sorted(set(MODULES) - BOUNDARY)


def _imports(source: str) -> Iterator[tuple[str, int]]:
    """Every name ``source`` imports, absolute, with its line: ``from a import b`` gives ``a``
    and ``a.b`` (so ``from fxmesh import v1`` is seen as ``fxmesh.v1``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import"
            assert node.module is not None
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def _matching(module: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for name, line in _imports(MODULES[module].read_text())
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]


def test_admin_modules_when_listed_then_boundary_and_use_cases_are_there() -> None:
    assert set(MODULES) >= BOUNDARY
    assert {"admin.service", "admin.accounts", "admin.liquidity", "admin.system"} <= set(INSIDE)


def test_import_reader_when_protobuf_imported_any_way_then_sees_it() -> None:
    source = (
        "from fxmesh import v1\nimport google.protobuf.timestamp_pb2\nfrom admin import convert"
    )

    names = {name for name, _ in _imports(source)}

    assert {"fxmesh.v1", "google.protobuf.timestamp_pb2", "admin.convert"} <= names


@pytest.mark.parametrize("module", INSIDE)
def test_admin_module_when_not_boundary_then_imports_no_protobuf(module: str) -> None:
    assert _matching(module, PROTOBUF) == []


@pytest.mark.parametrize("module", INSIDE)
def test_admin_module_when_not_boundary_then_imports_no_converter(module: str) -> None:
    assert _matching(module, CONVERTERS) == []
