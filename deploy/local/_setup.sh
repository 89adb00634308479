# shellcheck shell=bash
# Shared set-up for deploy/local/{up,down,test}: Python >= 3.11 with venv, the project's .venv and
# an editable install of fxmesh with its dev extra (re-run only when pyproject.toml changes).
# Sourced, not executed. Sets ROOT and PY (the venv's python) and cds to ROOT.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.fxmesh-install-stamp"

say() { printf '==> %s\n' "$*"; }
die() { printf 'fxmesh: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
can_apt() { is_root && command -v apt-get >/dev/null 2>&1; }

apt_install() {
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Print the first python >= 3.11 found (FXMESH_PYTHON first, if set).
find_python() {
    local c
    for c in ${FXMESH_PYTHON:-} python3.13 python3.12 python3.11 python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] \
        && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PY="$VENV/bin/python"
        return 0
    fi
    local sys_py
    if ! sys_py="$(find_python)"; then
        if can_apt; then
            apt_install python3 python3-venv
            sys_py="$(find_python)" || die "python3 >= 3.11 is still missing after apt-get install"
        else
            die "python3 >= 3.11 is required. Install it (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv; macOS: brew install python@3.12), then run this again."
        fi
    fi
    if ! "$sys_py" -c 'import venv, ensurepip' 2>/dev/null; then
        local ver
        ver="$("$sys_py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        if can_apt; then
            apt_install "python${ver}-venv" || apt_install python3-venv
        else
            die "$sys_py has no venv module. Install it (Debian/Ubuntu: sudo apt-get install -y python${ver}-venv), then run this again."
        fi
    fi
    [ -e "$VENV" ] && { say "recreating $VENV (it is broken or too old)"; rm -rf "$VENV"; }
    say "creating $VENV with $sys_py ($("$sys_py" --version 2>&1))"
    "$sys_py" -m venv "$VENV"
    PY="$VENV/bin/python"
    "$PY" -m pip install --quiet --upgrade pip
}

# Hash of what decides the installed set: pyproject.toml (and requirements.lock when present).
install_fingerprint() {
    "$PY" - <<'PYEOF'
import hashlib, pathlib
digest = hashlib.sha256()
for name in ("pyproject.toml", "requirements.lock"):
    path = pathlib.Path(name)
    if path.exists():
        digest.update(name.encode() + b"\0" + path.read_bytes())
print(digest.hexdigest())
PYEOF
}

ensure_installed() {
    local want
    want="$(install_fingerprint)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return 0
    fi
    say "installing fxmesh and its dependencies into .venv (pip install -e \".[dev]\")"
    say "the first install compiles the QuickFIX sdist (about 5 minutes); pip caches the wheel afterwards"
    local constraints=()
    [ -f requirements.lock ] && constraints=(-c requirements.lock)
    local started=$SECONDS heartbeat rc=0
    ( while sleep 30; do say "still installing... $((SECONDS - started)) s"; done ) &
    heartbeat=$!
    "$PY" -m pip install --progress-bar off -e ".[dev]" ${constraints[@]+"${constraints[@]}"} || rc=$?
    kill "$heartbeat" 2>/dev/null || true
    wait "$heartbeat" 2>/dev/null || true
    [ "$rc" = 0 ] || die "pip install failed (exit $rc); see the output above"
    printf '%s\n' "$want" >"$STAMP"
    say "dependencies installed in $((SECONDS - started)) s"
}

setup() {
    ensure_venv
    ensure_installed
    export PATH="$VENV/bin:$PATH"
}
