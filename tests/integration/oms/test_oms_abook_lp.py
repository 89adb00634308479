"""An A-booked position, end to end below edge: oms -> router -> fixgw -> two LP simulators.

The account's group trades EURUSD on the A-book; the position opened at LPB (the client's close
must go there, not to LPA, the symbol's first LP, nor to the house), closed by the client and by a
stop loss. Real oms, router and fixgw in-process on oms's test database, real FIX over loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from oms_helpers import BUY, SELL, order_request

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.knobs import SimConfig
from fixgw.lpsim.simulator import LpSimulator
from fixgw.server import FixgwApp
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2
from oms.config import OmsSettings
from oms.domain.model import CloseReason, OrderStatus, PositionId, Price
from oms.server import OmsApp
from router.config import RouterSettings
from router.server import RouterApp, start_router

D = Decimal
WAIT = 20.0
FILLED = types_pb2.ORDER_STATUS_FILLED


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - state owned by QuickFIX callbacks
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


@pytest.fixture(scope="module")
async def lps(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, LpSimulator]]:
    sims = {
        name: LpSimulator(
            demo_price_specs(),
            port=engine.free_port(),
            run_dir=tmp_path_factory.mktemp(name.lower()),
            sender_comp_id=name,
            config=SimConfig(tick_interval_ms=50, walk=False),
            seed=3,
        )
        for name in ("LPA", "LPB")
    }
    for sim in sims.values():
        await sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            await sim.stop()


@pytest.fixture(scope="module")
async def stack(
    lps: dict[str, LpSimulator],
    oms_dsn: str,
    redis_url: str,
    amqp_url: str,
    events_exchange: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[OmsApp, oms_pb2_grpc.OmsServiceStub, RouterApp]]:
    """fixgw, a router and an oms wired to each other, on oms's own test database."""
    fixgw = FixgwApp(
        FixgwSettings(
            postgres_dsn=oms_dsn,
            run_dir=str(tmp_path_factory.mktemp("fixgw")),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",
            metrics_port=0,
            fixgw_lps=[
                LpConfig(name=name, host="127.0.0.1", port=sim.port, target_comp_id=name)
                for name, sim in lps.items()
            ],
            fixgw_reconnect_seconds=1,
            shutdown_grace_seconds=0,
        )
    )
    await fixgw.start()
    await until(lambda: all(fixgw.gateway.healthy(name) for name in lps))
    router = await start_router(
        RouterSettings(
            postgres_dsn=oms_dsn,
            redis_url=redis_url,
            router_addr="127.0.0.1:0",
            fixgw_addr=f"127.0.0.1:{fixgw.grpc_port}",
            metrics_port=0,
            router_config_reload_seconds=600,
        )
    )
    oms = OmsApp(
        OmsSettings(
            profile="test",
            postgres_dsn=oms_dsn,
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=events_exchange,
            oms_addr="127.0.0.1:0",
            router_addr=f"127.0.0.1:{router.server.port}",
            metrics_port=0,
            grpc_deadline_seconds=10.0,
            shutdown_grace_seconds=1.0,
            symbols_cache_seconds=0.0,
        )
    )
    port = await oms.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield oms, oms_pb2_grpc.OmsServiceStub(channel), router
    finally:
        await channel.close()
        await oms.stop()
        await router.stop()
        await fixgw.stop()


async def prices(redis_client: Any, lps: dict[str, LpSimulator], lpa: str, lpb: str) -> None:
    """LP prices (bid, ask = bid + 10 points at LPA, + 20 at LPB) and the client quote of LPA's,
    with 2 points of markup each side."""
    bid_a, bid_b = D(lpa), D(lpb)
    lps["LPA"].set_price("EURUSD", bid_a, bid_a + D("0.00010"))
    lps["LPB"].set_price("EURUSD", bid_b, bid_b + D("0.00020"))
    markup = D("0.00002")
    await write_quote(
        redis_client,
        ClientQuote(
            "EURUSD",
            bid_a - markup,
            bid_a + D("0.00010") + markup,
            int(time.time() * 1000),
            markup_bid=markup,
            markup_ask=markup,
        ),
    )


@pytest.fixture
async def abook_account(
    stack: tuple[OmsApp, oms_pb2_grpc.OmsServiceStub, RouterApp], oms: Any, oms_dsn: str
) -> AsyncIterator[int]:
    """A funded account whose group (its own) trades EURUSD on the A-book."""
    _, _, router = stack
    account_id: int = await oms.new_account()
    conn = await asyncpg.connect(oms_dsn)
    try:
        await conn.execute(
            "UPDATE oms.accounts SET client_group = 'abook-vip' WHERE account_id = $1", account_id
        )
        rule_id = await conn.fetchval(
            "INSERT INTO router.routing_rules (priority, client_group, symbol, book, reason) "
            "VALUES (10, 'abook-vip', 'EURUSD', 'A', 'VIP_A_BOOK') RETURNING rule_id"
        )
        await until(lambda: any(r.rule_id == rule_id for r in router.service.rules))
        yield account_id
        await conn.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)
    finally:
        await conn.close()


async def test_a_booked_position_when_client_closes_then_closed_at_its_lp_with_lp_price(
    stack: tuple[OmsApp, oms_pb2_grpc.OmsServiceStub, RouterApp],
    abook_account: int,
    lps: dict[str, LpSimulator],
    redis_client: Any,
) -> None:
    _, stub, _ = stack
    # LPA cannot fill now (its ask is beyond the client's allowed price): LPB fills the open.
    await prices(redis_client, lps, "1.08450", "1.08440")
    lps["LPA"].set_price("EURUSD", D("1.08500"), D("1.08510"))
    opened = await stub.PlaceOrder(
        order_request(abook_account, side=BUY, requested_price="1.08462", deviation_points=10)
    )
    assert opened.order.status == FILLED, opened.order.reject_reason
    [position] = opened.positions
    assert (position.book, position.venue) == (types_pb2.BOOK_A, "LPB")
    assert position.venue_order_id
    assert D(position.open_price) == D("1.08462")  # LPB ask 1.08460 + 2 points

    await prices(redis_client, lps, "1.08470", "1.08480")
    closed = await stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(abook_account), position_id=position.position_id, client_order_id="x1"
        )
    )

    assert closed.order.status == FILLED, closed.order.reject_reason
    [deal] = closed.deals
    assert (deal.venue, deal.book) == ("LPB", types_pb2.BOOK_A)
    assert D(deal.price) == D("1.08478")  # LPB bid 1.08480 - 2 points, not LPA's 1.08470
    assert closed.position.close_price == deal.price


async def test_a_booked_position_when_stop_loss_triggers_then_closed_at_its_lp(
    stack: tuple[OmsApp, oms_pb2_grpc.OmsServiceStub, RouterApp],
    abook_account: int,
    lps: dict[str, LpSimulator],
    redis_client: Any,
) -> None:
    app, stub, _ = stack
    await prices(redis_client, lps, "1.08450", "1.08440")
    opened = await stub.PlaceOrder(
        order_request(abook_account, side=SELL, stop_loss="1.08600", volume="0.50")
    )
    assert opened.order.status == FILLED, opened.order.reject_reason
    [position] = opened.positions
    assert position.venue == "LPA"
    await prices(redis_client, lps, "1.08600", "1.08590")

    order = await app.service.close_for_protection(
        PositionId(int(position.position_id)),
        CloseReason.STOP_LOSS,
        Price(D("1.08598"), D("1.08612")),
    )

    assert order is not None
    assert order.status is OrderStatus.FILLED, order.reject_reason
    assert order.avg_fill_price == D("1.08612")  # LPA ask 1.08610 + 2 points
