"""GetRoutingConfig / ChangeRoutingConfig over real gRPC and PostgreSQL: a change applies to the
very next order (on another router too, before any NOTIFY), one version per change however many
tables it touches, distinct versions for concurrent changes, a stale expected version ABORTED and
nothing half-written."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
import pytest
from router_harness import Stub, change, create_rule, quote, request, symbol

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, types_pb2
from router.server import RouterApp


def group() -> str:
    return f"cfg-{uuid.uuid4().hex[:8]}"


def account() -> str:
    return f"8{uuid.uuid4().int % 10**8}"


async def version_now(db: asyncpg.Connection) -> int:
    version: int = await db.fetchval("SELECT max(version) FROM router.config_versions")
    return version


async def test_change_when_made_on_one_router_then_the_next_order_on_another_uses_it(
    start: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    first, second = await start(), await start()
    sym, grp = symbol(), group()
    await quote(redis_client, sym, "1.08440", "1.08460")
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{first.server.port}") as ch1,
        grpc.aio.insecure_channel(f"127.0.0.1:{second.server.port}") as ch2,
    ):
        one, two = Stub(ch1), Stub(ch2)
        # The second router's NOTIFY listener is gone: only the version the order reads can
        # tell it that the configuration changed.
        await second.service.stop()
        before = await two.Execute(request(sym, types_pb2.SIDE_BUY, group=grp), timeout=10)

        changed = await one.ChangeRoutingConfig(
            change(create_rule(grp, sym, "CFG_TEST_RULE")), timeout=10
        )
        after = await two.Execute(request(sym, types_pb2.SIDE_BUY, group=grp), timeout=10)
        try:
            assert before.routing_reason == "DEFAULT_B_BOOK"
            assert after.routing_reason == "CFG_TEST_RULE"
            [rule_id] = changed.created_rule_ids
            assert any(r.rule_id == rule_id for r in changed.after.rules)
            assert not any(r.rule_id == rule_id for r in changed.before.rules)
            assert changed.after.version == changed.version > changed.before.version
        finally:
            await one.ChangeRoutingConfig(
                change(router_pb2.RoutingConfigEdit(delete_rule=changed.created_rule_ids[0])),
                timeout=10,
            )


async def test_change_touching_three_tables_then_one_new_version_with_its_actor(
    stub: Stub, db: asyncpg.Connection
) -> None:
    sym, acct = symbol(), account()
    versions_before = await db.fetchval("SELECT count(*) FROM router.config_versions")

    changed = await stub.ChangeRoutingConfig(
        change(
            router_pb2.RoutingConfigEdit(
                put_override=router_pb2.AccountOverrideConfig(
                    account_id=acct, book=types_pb2.BOOK_A, reason="VIP_A_BOOK", enabled=True
                )
            ),
            router_pb2.RoutingConfigEdit(
                set_exposure_limit=router_pb2.ExposureLimitConfig(symbol=sym, max_net_volume="5")
            ),
            router_pb2.RoutingConfigEdit(
                set_volume_limit=router_pb2.VolumeLimitConfig(
                    symbol=sym, max_volume="2", over_limit=router_pb2.OVER_LIMIT_A
                )
            ),
        ),
        timeout=10,
    )
    try:
        assert await db.fetchval("SELECT count(*) FROM router.config_versions") == (
            versions_before + 1
        )
        row = await db.fetchrow(
            "SELECT actor, note FROM router.config_versions WHERE version = $1", changed.version
        )
        assert tuple(row) == ("tester", "test")
        got = (await stub.GetRoutingConfig(router_pb2.GetRoutingConfigRequest(), timeout=10)).config
        assert got.version == changed.version
        assert any(o.account_id == acct and o.book == types_pb2.BOOK_A for o in got.overrides)
        assert any(e.symbol == sym and e.max_net_volume == "5" for e in got.exposure_limits)
    finally:
        await stub.ChangeRoutingConfig(
            change(
                router_pb2.RoutingConfigEdit(delete_override=acct),
                router_pb2.RoutingConfigEdit(
                    set_exposure_limit=router_pb2.ExposureLimitConfig(symbol=sym)
                ),
                router_pb2.RoutingConfigEdit(
                    set_volume_limit=router_pb2.VolumeLimitConfig(symbol=sym)
                ),
            ),
            timeout=10,
        )


async def test_change_when_expected_version_is_stale_then_aborted_and_nothing_written(
    stub: Stub, db: asyncpg.Connection
) -> None:
    sym, grp = symbol(), group()
    current = await version_now(db)
    # Someone else changes the configuration first.
    other = await stub.ChangeRoutingConfig(
        change(create_rule(grp, sym, "CFG_FIRST"), expected=current), timeout=10
    )
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ChangeRoutingConfig(
                change(create_rule(grp, sym, "CFG_STALE"), expected=current), timeout=10
            )
        error = from_rpc_error(caught.value)
        assert caught.value.code() == grpc.StatusCode.ABORTED
        assert error.reason == "CONFIG_VERSION_CHANGED"
        assert error.metadata["version"] == str(other.version)
        assert await version_now(db) == other.version
        assert (
            await db.fetchval(
                "SELECT count(*) FROM router.routing_rules WHERE reason = 'CFG_STALE'"
            )
            == 0
        )
    finally:
        await stub.ChangeRoutingConfig(
            change(router_pb2.RoutingConfigEdit(delete_rule=other.created_rule_ids[0])),
            timeout=10,
        )


async def test_concurrent_changes_then_each_gets_its_own_version(
    stub: Stub, db: asyncpg.Connection
) -> None:
    sym = symbol()
    groups = [group() for _ in range(8)]
    count_before = await db.fetchval("SELECT count(*) FROM router.config_versions")

    results = await asyncio.gather(
        *(
            stub.ChangeRoutingConfig(
                change(
                    create_rule(g, sym, "CFG_CONCURRENT"),
                    router_pb2.RoutingConfigEdit(
                        set_volume_limit=router_pb2.VolumeLimitConfig(
                            client_group=g, symbol=sym, max_volume="3"
                        )
                    ),
                ),
                timeout=30,
            )
            for g in groups
        )
    )
    try:
        versions = [r.version for r in results]
        assert len(set(versions)) == len(groups)
        assert await db.fetchval("SELECT count(*) FROM router.config_versions") == (
            count_before + len(groups)
        )
        # Each change saw the one before it: its "before" is the previous version.
        ordered = sorted(results, key=lambda r: r.version)
        for prev, nxt in itertools.pairwise(ordered):
            assert nxt.before.version == prev.version
    finally:
        await stub.ChangeRoutingConfig(
            change(
                *(router_pb2.RoutingConfigEdit(delete_rule=r.created_rule_ids[0]) for r in results),
                *(
                    router_pb2.RoutingConfigEdit(
                        set_volume_limit=router_pb2.VolumeLimitConfig(client_group=g, symbol=sym)
                    )
                    for g in groups
                ),
            ),
            timeout=10,
        )


async def test_change_when_one_edit_targets_an_unknown_rule_then_not_found_and_nothing_written(
    stub: Stub, db: asyncpg.Connection
) -> None:
    sym, grp = symbol(), group()
    current = await version_now(db)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ChangeRoutingConfig(
            change(
                create_rule(grp, sym, "CFG_HALF"),
                router_pb2.RoutingConfigEdit(delete_rule=10**12),
            ),
            timeout=10,
        )

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert from_rpc_error(caught.value).reason == "RULE_NOT_FOUND"
    assert await version_now(db) == current
    assert (
        await db.fetchval("SELECT count(*) FROM router.routing_rules WHERE reason = 'CFG_HALF'")
        == 0
    )


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            router_pb2.RoutingConfigEdit(
                set_execution_mode=router_pb2.SetExecutionMode(
                    symbol="EURUSD", book=types_pb2.BOOK_C, hedge_ratio="1.5"
                )
            ),
            "INVALID_HEDGE_RATIO",
        ),
        (
            router_pb2.RoutingConfigEdit(
                create_rule=router_pb2.RoutingRuleConfig(
                    client_group="g", book=types_pb2.BOOK_A, reason="EXECUTION_MODE_GLOBAL"
                )
            ),
            "INVALID_REASON",
        ),
        (
            router_pb2.RoutingConfigEdit(
                create_rule=router_pb2.RoutingRuleConfig(book=types_pb2.BOOK_A, reason="X")
            ),
            "INVALID_CLIENT_GROUP",
        ),
        (
            router_pb2.RoutingConfigEdit(
                put_override=router_pb2.AccountOverrideConfig(
                    account_id="abc", book=types_pb2.BOOK_A, reason="X"
                )
            ),
            "INVALID_ACCOUNT_ID",
        ),
        (router_pb2.RoutingConfigEdit(remove_symbol_mode="TNOSUCH1"), "SYMBOL_RULE_NOT_FOUND"),
    ],
)
async def test_change_when_edit_is_bad_then_error_names_it(
    stub: Stub, edit: router_pb2.RoutingConfigEdit, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ChangeRoutingConfig(change(edit), timeout=10)
    assert from_rpc_error(caught.value).reason == reason
