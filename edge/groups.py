"""The client group of an account, for the prices edge shows it (``fxmesh.quotecache``).

oms owns an account's group (admin may change it at any time); edge asks oms (``ListAccounts``
with the exact account id) and keeps the answer ``ttl`` seconds, so a group change shows in the
prices within that time, and a burst of requests is one call. When oms cannot answer, the last
known group is kept; with none, the default price ("") is shown: a price to look at, never a fill
(the router prices fills from the group the order carries).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import structlog

from fxmesh.v1 import oms_pb2, oms_pb2_grpc

log = structlog.stdlib.get_logger(__name__)
GROUP_TTL_SECONDS = 5.0
LOOKUP_TIMEOUT_SECONDS = 2.0
MAX_CACHED = 100_000


class ClientGroups:
    """account id -> client group, cached ``ttl`` seconds."""

    def __init__(
        self,
        oms: oms_pb2_grpc.OmsServiceAsyncStub,
        *,
        ttl: float = GROUP_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oms = oms
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def cached(self, account_id: str) -> str:
        """The last group known for ``account_id`` ("" when none), without asking oms."""
        found = self._cache.get(account_id)
        return found[0] if found is not None else ""

    async def of(self, account_id: str) -> str:
        """The client group of ``account_id`` ("" when it cannot be known)."""
        now = self._clock()
        found = self._cache.get(account_id)
        if found is not None and now - found[1] < self._ttl:
            return found[0]
        try:
            reply = await self._oms.ListAccounts(
                oms_pb2.ListAccountsRequest(query=account_id, page_size=5),
                timeout=LOOKUP_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("client_group_unavailable", account_id=account_id, error=exc.code().name)
            return found[0] if found is not None else ""
        group = next((a.client_group for a in reply.accounts if a.account_id == account_id), "")
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[account_id] = (group, now)
        return group
