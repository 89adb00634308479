"""Each package is used through its public face, the ``__all__`` of its ``__init__``.

The packages with a face are the services (admin, edge, fixgw, oms, quotes, router), the bbook
library and the development stack (``devstack``). Their importers are those packages, the
benchmarks (``bench``) and the runtime (``fxmesh``): from another package they import only the
package's face (``from quotes import QuotesService``), never one of its modules (``from
quotes.service import ...``). A module imports its own package's modules freely but never its own
face (the face imports them all: a cycle). ``fxmesh.*`` is open to everyone, and tests may import
any module (they test the rooms). The development tooling (``bench``, ``devstack``) is imported by
no service and not by the runtime: production never carries a dependency on it.

The imports are read from the source (``ast``), including those inside functions,
``TYPE_CHECKING`` blocks and ``importlib.import_module("...")`` calls with a literal name.
Processes started by module name (``python -m devstack.lpsim``, ``quotes.rebuild``,
``admin.verify``) are run, not imported, so they are not imports here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = ("admin", "bbook", "devstack", "edge", "fixgw", "oms", "quotes", "router")
IMPORTERS = (*FACES, "bench", "fxmesh")
GENERATED = ROOT / "fxmesh" / "v1"
# Development tooling, and the packages that never import it (the services and the runtime).
TOOLING = ("bench", "devstack")
RUNTIME = tuple(p for p in IMPORTERS if p not in TOOLING)

# Internal modules another package may reach, and why.
ENTRY_POINTS: dict[str, str] = {
    **{
        f"{owner}.seed": "devstack.seed_all hands each service's seed the demo data"
        for owner in ("admin", "oms", "quotes", "router")
    },
    "fixgw.lpsim": "the LP simulator's own face: devstack runs it with the demo prices",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    _module_name(p): p
    for package in IMPORTERS
    for p in sorted((ROOT / package).rglob("*.py"))
    if not p.is_relative_to(GENERATED)
}


def _face(package: str) -> set[str]:
    """The names in ``package/__init__.py``'s ``__all__``."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return set(value)
    return set()


FACE_NAMES: dict[str, set[str]] = {package: _face(package) for package in FACES}


def _imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """What ``module`` imports: (module, name taken from it or None, line)."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}:{node.lineno}: relative import"
            assert node.module is not None
            for alias in node.names:
                yield node.module, alias.name, node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, None, node.lineno


def _wrong_import(importer: str, target: str, name: str | None) -> str | None:
    """Why ``from target import name`` (or ``import target``) is not allowed in ``importer``."""
    package, own = target.split(".")[0], importer.split(".")[0]
    if own in RUNTIME and package in TOOLING:
        return "development tooling, which services and the runtime never import"
    if package not in FACES:
        return None
    if package == own:
        taken_from_face = target == package and f"{package}.{name}" not in MODULES
        if taken_from_face and importer != package:
            return "its own face (the face imports the package's modules: a cycle)"
        return None
    if target == package:
        if name is None or name in FACE_NAMES[package]:
            return None
        return f"{name!r}, which is not in {package}'s __all__"
    if target in ENTRY_POINTS:
        return None
    return f"an internal module of {package}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_when_imports_read_then_other_packages_only_through_their_face(
    module: str,
) -> None:
    wrong = [
        f"{module}:{line} imports {target}{'.' + name if name else ''}: {why}"
        for target, name, line in _imports(module)
        if (why := _wrong_import(module, target, name)) is not None
    ]
    assert wrong == []


def test_packages_when_listed_then_every_top_level_package_is_known() -> None:
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")}

    assert found == set(IMPORTERS)


@pytest.mark.parametrize("package", FACES)
def test_face_when_read_then_documented_and_curated(package: str) -> None:
    tree = ast.parse((ROOT / package / "__init__.py").read_text())

    assert ast.get_docstring(tree)
    assert FACE_NAMES[package], f"{package}/__init__.py has no __all__"


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_entry_point_when_listed_then_module_exists(entry_point: str) -> None:
    assert entry_point in MODULES


def test_rule_when_applied_then_face_names_pass_and_modules_do_not() -> None:
    assert _wrong_import("bench.x", "quotes.service", "QuotesService") is not None
    assert _wrong_import("bench.x", "quotes", "repository") is not None
    assert _wrong_import("bench.x", "quotes", "QuotesService") is None
    assert _wrong_import("router.service", "bbook", "store") is None
    assert _wrong_import("quotes.history", "quotes", "repository") is None
    assert _wrong_import("quotes.history", "quotes", "QuotesService") is not None
    assert _wrong_import("devstack.seeds", "oms.seed", None) is None
    assert _wrong_import("bench.x", "devstack", "Stack") is None
    assert _wrong_import("bench.x", "devstack.supervisor", "Stack") is not None
    assert _wrong_import("oms.seed", "devstack.catalogue", "DEMO_SYMBOLS") is not None
    assert _wrong_import("fxmesh.migrations", "devstack", "Stack") is not None
    assert _wrong_import("fixgw.lpsim.server", "bench.stackctl", None) is not None


def test_lp_simulator_when_imported_then_carries_no_gateway_metrics() -> None:
    """``python -m devstack.lpsim`` imports fixgw's face and devstack's, which must not pull in
    the gateway or any other service: their metrics would show on the simulator's ``/metrics``."""
    code = (
        "import devstack.lpsim\n"
        "from prometheus_client import REGISTRY, generate_latest\n"
        "print(generate_latest(REGISTRY).decode())\n"
    )
    metrics = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert "fxmesh_lpsim_" in metrics
    for service in ("fixgw", "oms", "router", "quotes", "admin", "edge"):
        assert f"fxmesh_{service}_" not in metrics
