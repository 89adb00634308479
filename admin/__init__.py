"""admin: back office (gRPC AdminService + REST under /admin) with roles and an audit log.

This is admin's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. A newcomer starts at
``admin/service.py`` (``AdminService``: every use case, shared by gRPC and REST), then
``admin/gate.py`` and ``admin/permissions.py`` (who may do what; every operation audited) and
``admin/audit.py`` (the hash-chained log). admin owns no client data: accounts, money, LPs and
exposure go over oms's, fixgw's and router's RPCs. ``admin/server.py`` wires it (the REST app is
``create_app``); ``python -m admin`` runs it.
"""

from __future__ import annotations

from admin.config import AdminSettings
from admin.rest.app import create_app
from admin.service import AdminService

__all__ = ["AdminService", "AdminSettings", "create_app"]
