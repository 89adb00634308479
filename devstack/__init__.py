"""devstack: the whole fxmesh stack on a developer machine, for the tests and the benchmarks.

Development tooling, like ``bench``: no service and nothing in ``fxmesh`` imports it
(``tests/unit/test_package_faces.py`` holds that), and production never runs it. This is its
public face: what the benchmarks import. A newcomer starts at ``devstack/cli.py``
(``python -m devstack infra|migrate|seed|up|down|status``, what ``deploy/local/*`` run), then
``devstack/supervisor.py`` (``Stack``: every service as a child process, ready-checked, stopped in
order), ``devstack/infra.py`` (PostgreSQL, Redis and RabbitMQ on loopback: found, started or
installed) and ``devstack/catalogue.py`` (the demo data, handed to each service's own seed by
``devstack/seeds.py`` and to the LP simulator by ``devstack/lpsim.py``). Migrations are the
runtime's (``python -m fxmesh.migrations``); ``migrate`` and ``up`` call the same function.
"""

from __future__ import annotations

from devstack.catalogue import (
    ALWAYS_OPEN,
    DEMO_ACCOUNT,
    DEMO_BY_SYMBOL,
    DEMO_SYMBOLS,
    FX_SESSIONS,
    DemoAccount,
    DemoSymbol,
)
from devstack.cli import add_topology_arguments, infra_target
from devstack.infra import InfraError, InfraTarget, ensure_infra
from devstack.seeds import seed_all
from devstack.supervisor import (
    FIRST_LP,
    SECOND_LP,
    Stack,
    StackConfig,
    StackError,
    StackPorts,
    claim_redis_db,
)

__all__ = [
    "ALWAYS_OPEN",
    "DEMO_ACCOUNT",
    "DEMO_BY_SYMBOL",
    "DEMO_SYMBOLS",
    "FIRST_LP",
    "FX_SESSIONS",
    "SECOND_LP",
    "DemoAccount",
    "DemoSymbol",
    "InfraError",
    "InfraTarget",
    "Stack",
    "StackConfig",
    "StackError",
    "StackPorts",
    "add_topology_arguments",
    "claim_redis_db",
    "ensure_infra",
    "infra_target",
    "seed_all",
]
