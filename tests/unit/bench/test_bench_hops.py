"""The bench's readings of the services' histograms and counters between two scrapes."""

from __future__ import annotations

import asyncio

from bench.hops import Hop, Reading, mean_ms, mean_size, over, per_order, read, scrape


def test_mean_size_when_groups_committed_between_scrapes_then_their_mean_size() -> None:
    before = {"oms group commit size": Reading(total=10.0, count=10.0)}
    after = {"oms group commit size": Reading(total=40.0, count=20.0), "idle": Reading()}

    sizes = mean_size(before, after)

    assert sizes["oms group commit size"] == {"observations": 10, "mean": 3.0}
    assert sizes["idle"] == {"observations": 0, "mean": None}


def test_mean_ms_and_over_when_waits_observed_between_scrapes_then_in_ms_and_counted() -> None:
    before = {"edge admission queue": Reading(0.5, 5.0, {0.025: 5.0, 0.05: 5.0})}
    after = {"edge admission queue": Reading(0.9, 9.0, {0.025: 7.0, 0.05: 8.0})}

    assert mean_ms(before, after)["edge admission queue"] == {"observations": 4, "mean_ms": 100.0}
    assert over(before, after, [0.025, 0.05])["edge admission queue"] == {
        "observations": 4,
        "over_25_ms": 2,
        "over_50_ms": 1,
    }


def test_per_order_when_messages_published_between_scrapes_then_per_order_answered() -> None:
    before = {"oms outbox messages": Reading(total=100.0)}
    after = {"oms outbox messages": Reading(total=150.0), "new": Reading(total=8.0)}

    assert per_order(before, after, 40) == {"oms outbox messages": 1.25, "new": 0.2}
    assert per_order(before, after, 0) == {"oms outbox messages": None, "new": None}


async def test_scrape_when_a_counter_is_exposed_then_its_total_is_read() -> None:
    text = (
        "# HELP fxmesh_oms_outbox_messages_total AMQP messages.\n"
        "# TYPE fxmesh_oms_outbox_messages_total counter\n"
        "fxmesh_oms_outbox_messages_total 42.0\n"
        "fxmesh_oms_outbox_messages_created 1.7e9\n"
    )

    body = text.encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        hop = Hop("messages", f"http://127.0.0.1:{port}/metrics", "fxmesh_oms_outbox_messages")
        reading = (await scrape([hop]))["messages"]

    assert (reading.total, reading.count) == (42.0, 0.0)


def test_read_when_hops_share_one_text_then_each_reads_its_own_series() -> None:
    url = "http://oms/metrics"
    text = (
        "# HELP fxmesh_oms_grpc_server_duration_seconds gRPC handling time.\n"
        "# TYPE fxmesh_oms_grpc_server_duration_seconds histogram\n"
        'fxmesh_oms_grpc_server_duration_seconds_bucket{method="PlaceOrder",le="0.025"} 3.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_bucket{method="PlaceOrder",le="+Inf"} 4.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_count{method="PlaceOrder"} 4.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_sum{method="PlaceOrder"} 0.1\n'
        'fxmesh_oms_grpc_server_duration_seconds_bucket{method="GetOrder",le="0.025"} 2.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_bucket{method="GetOrder",le="+Inf"} 2.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_count{method="GetOrder"} 2.0\n'
        'fxmesh_oms_grpc_server_duration_seconds_sum{method="GetOrder"} 0.01\n'
    )
    family = "fxmesh_oms_grpc_server_duration_seconds"
    place = Hop("place", url, family, (("method", "PlaceOrder"),))
    both = Hop("any method", url, family)
    elsewhere = Hop("edge", "http://edge/metrics", family)

    readings = read([place, both, elsewhere], {url: text, "http://edge/metrics": ""})

    assert readings["place"] == Reading(0.1, 4.0, {0.025: 3.0, float("inf"): 4.0})
    assert (readings["any method"].count, readings["any method"].total) == (6.0, 0.11)
    assert readings["edge"] == Reading()
