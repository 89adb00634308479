"""Regenerate the Python contracts in ``fxmesh/v1`` from ``protos/`` (with .pyi stubs).

    python -m fxmesh.protogen          # regenerate
    python -m fxmesh.protogen --check  # exit 1 if the committed code differs from a fresh generation

The tool versions are pinned (pyproject's dev extra) because they shape the generated text; a
mismatch is reported instead of producing a spurious diff.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = ROOT / "fxmesh" / "v1"
PINNED = {"grpcio-tools": "1.85.1", "mypy-protobuf": "5.1.0"}
HEADER_INIT = (
    '"""Generated fxmesh.v1 contracts: do not edit; run ``python -m fxmesh.protogen``."""\n'
)


def _check_versions() -> None:
    wrong = {
        name: (metadata.version(name), want)
        for name, want in PINNED.items()
        if metadata.version(name) != want
    }
    if wrong:
        detail = ", ".join(f"{n} {have} (want {want})" for n, (have, want) in wrong.items())
        sys.exit(f"protogen: tool versions differ from the pins: {detail}")


def generate(out_root: Path) -> None:
    """Generate fxmesh/v1/*_pb2*.py(i) under ``out_root``."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    # The plugins sit beside this interpreter; naming them keeps an unactivated venv working.
    bindir = Path(sys.executable).parent
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protogen: protoc failed")
    pkg = out_root / "fxmesh" / "v1"
    (pkg / "__init__.py").write_text(HEADER_INIT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if fxmesh/v1 is out of date")
    args = parser.parse_args()
    _check_versions()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "fxmesh" / "v1"
        if args.check:
            current = {p.name for p in OUT_PACKAGE.glob("*") if p.is_file()}
            wanted = {p.name for p in fresh.glob("*") if p.is_file()}
            cmp = filecmp.cmpfiles(fresh, OUT_PACKAGE, sorted(wanted), shallow=False)
            stale = sorted(set(cmp[1]) | set(cmp[2]) | (current ^ wanted))
            if stale:
                print(
                    "protogen: generated code is out of date: " + ", ".join(stale), file=sys.stderr
                )
                print("run: python -m fxmesh.protogen", file=sys.stderr)
                sys.exit(1)
            print("protogen: generated code is up to date")
            return
        if OUT_PACKAGE.exists():
            shutil.rmtree(OUT_PACKAGE)
        shutil.copytree(fresh, OUT_PACKAGE)
        print(f"protogen: wrote {OUT_PACKAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
