"""The supervisor: port allocation, child environment, readiness, failure reports, ordered stop.

Stand-in children (python's http.server and small scripts) play the services, so these tests
exercise the process handling without depending on the real services.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from dataclasses import fields
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from devstack.probes import Probe, grpc_serving, http_ok
from devstack.supervisor import (
    ServiceSpec,
    Stack,
    StackConfig,
    StackError,
    StackPorts,
    service_specs,
    stack_env,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_stand_in(name: str, tier: int, docroot: Path) -> ServiceSpec:
    """A child that answers GET /healthz with 200 (a file named healthz in its docroot)."""
    port = free_port()
    return ServiceSpec(
        name=name,
        module=name,
        tier=tier,
        probes=(Probe("http", f"127.0.0.1:{port}"),),
        address=f"127.0.0.1:{port}",
        metrics="",
        argv=(
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(docroot),
        ),
    )


def script_stand_in(name: str, code: str) -> ServiceSpec:
    port = free_port()
    return ServiceSpec(
        name=name,
        module=name,
        tier=0,
        probes=(Probe("http", f"127.0.0.1:{port}"),),
        address=f"127.0.0.1:{port}",
        metrics="",
        argv=(sys.executable, "-c", code),
    )


def quick_config(tmp_path: Path, **kw: object) -> StackConfig:
    values: dict[str, object] = {
        "run_dir": tmp_path,
        "ports": StackPorts.free(),
        "ready_timeout": 30.0,
        "stop_grace": 5.0,
    }
    values.update(kw)
    return StackConfig(**values)  # type: ignore[arg-type]


def test_free_ports_when_allocated_then_every_port_is_distinct_and_bindable() -> None:
    ports = StackPorts.free()

    values = [getattr(ports, f.name) for f in fields(ports)]

    assert len(set(values)) == len(values) == 15
    for port in values:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_child_environment_when_ports_move_then_every_address_follows() -> None:
    ports = StackPorts.free()
    cfg = StackConfig(ports=ports, events_exchange="x.test", env={"FXMESH_LOG_LEVEL": "DEBUG"})

    env = stack_env(cfg)

    assert env["FXMESH_OMS_ADDR"] == f"127.0.0.1:{ports.oms}"
    assert env["FXMESH_ROUTER_ADDR"] == f"127.0.0.1:{ports.router}"
    assert env["FXMESH_FIXGW_ADDR"] == f"127.0.0.1:{ports.fixgw}"
    assert env["FXMESH_QUOTES_ADDR"] == f"127.0.0.1:{ports.quotes}"
    assert env["FXMESH_ADMIN_GRPC_ADDR"] == f"127.0.0.1:{ports.admin_grpc}"
    assert env["FXMESH_EDGE_HTTP_ADDR"] == f"127.0.0.1:{ports.edge_http}"
    assert env["FXMESH_ADMIN_HTTP_ADDR"] == f"127.0.0.1:{ports.admin_http}"
    assert env["FXMESH_LPSIM_FIX_PORT"] == env["FXMESH_FIXGW_LP_PORT"] == str(ports.lpsim_fix)
    assert env["FXMESH_LPSIM_CONTROL_PORT"] == str(ports.lpsim_control)
    assert env["FXMESH_EVENTS_EXCHANGE"] == "x.test"
    assert env["FXMESH_LOG_LEVEL"] == "DEBUG"


def test_default_specs_when_local_profile_then_use_the_documented_ports() -> None:
    specs = {s.name: s for s in service_specs(StackConfig())}

    assert list(specs) == ["lpsim", "quotes", "fixgw", "router", "oms", "admin", "edge"]
    assert specs["edge"].probes == (Probe("http", "127.0.0.1:8080"),)
    assert specs["admin"].probes == (
        Probe("grpc", "127.0.0.1:50055"),
        Probe("http", "127.0.0.1:8081"),
    )
    assert [specs[s].metrics_port for s in ("oms", "router", "fixgw", "quotes")] == [
        9101,
        9102,
        9103,
        9104,
    ]
    assert specs["lpsim"].probes == (Probe("http", "127.0.0.1:9877"),)
    # A router replica answers health before it leads; the stack waits for the one that leads.
    assert specs["router"].probes == (Probe("grpc", "127.0.0.1:50052", "fxmesh.v1.RouterService"),)


def test_specs_when_router_in_oms_then_no_router_process_and_oms_waits_for_its_router() -> None:
    specs = {s.name: s for s in service_specs(StackConfig(router_in_oms=True))}

    assert "router" not in specs
    assert specs["oms"].env["FXMESH_OMS_ROUTER_IN_PROCESS"] == "true"
    # oms is ready once its own gRPC answers and the router in it leads on the router's port.
    assert specs["oms"].probes == (
        Probe("grpc", "127.0.0.1:50051"),
        Probe("grpc", "127.0.0.1:50052", "fxmesh.v1.RouterService"),
    )


def test_specs_when_unknown_service_requested_then_error_names_it() -> None:
    with pytest.raises(StackError, match="unknown service"):
        service_specs(StackConfig(services=("oms", "nope")))


async def test_grpc_probe_when_health_serving_then_true_and_closed_port_false() -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert await grpc_serving(f"127.0.0.1:{port}")
        await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert not await grpc_serving(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)
    assert not await grpc_serving(f"127.0.0.1:{free_port()}")


async def test_stack_when_children_become_healthy_then_starts_in_tiers_and_stops_all(
    tmp_path: Path,
) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "healthz").write_text("ok")
    specs = [http_stand_in("first", 0, docroot), http_stand_in("second", 1, docroot)]
    stack = Stack(quick_config(tmp_path), specs=specs)
    lines: list[str] = []

    await stack.start(lines.append, migrate=False, seed=False)
    try:
        assert [c.spec.name for c in stack.children] == ["first", "second"]
        assert all([await http_ok(s.probes[0].addr) for s in specs])
        assert lines.index("ready   first") < lines.index(
            f"started second (pid {stack.children[1].proc.pid})"
        )
    finally:
        procs = [c.proc for c in stack.children]
        await stack.stop(lines.append)

    assert all(p.returncode is not None for p in procs)
    assert stack.children == []


async def test_stack_when_a_child_is_killed_then_restart_brings_it_back_and_keeps_its_log(
    tmp_path: Path,
) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "healthz").write_text("ok")
    spec = http_stand_in("victim", 0, docroot)
    stack = Stack(quick_config(tmp_path), specs=[spec])
    await stack.start(lambda _line: None, migrate=False, seed=False)
    try:
        first_pid = stack.children[0].proc.pid
        stack.kill("victim")
        assert stack.children[0].proc.returncode == -9
        assert not await http_ok(spec.probes[0].addr)

        await stack.restart("victim")

        assert stack.children[0].proc.pid != first_pid
        assert await http_ok(spec.probes[0].addr)
        assert (
            "restarted by the supervisor (previous exit -9)" in stack.log_file("victim").read_text()
        )
        with pytest.raises(StackError, match="still running"):
            await stack.restart("victim")
    finally:
        await stack.stop(lambda _line: None)


async def test_stack_when_child_dies_before_ready_then_error_names_it_with_log_tail(
    tmp_path: Path,
) -> None:
    spec = script_stand_in("broken", "print('cannot bind: address in use', flush=True); exit(3)")
    stack = Stack(quick_config(tmp_path), specs=[spec])

    with pytest.raises(StackError) as err:
        await stack.start(lambda _: None, migrate=False, seed=False)

    message = str(err.value)
    assert "broken exited with status 3 before it was ready" in message
    assert "cannot bind: address in use" in message
    assert str(tmp_path / "logs" / "broken.log") in message


async def test_stack_when_child_never_ready_then_times_out_and_stops_it(tmp_path: Path) -> None:
    spec = script_stand_in(
        "sleepy", "import time; print('warming up', flush=True); time.sleep(600)"
    )
    stack = Stack(quick_config(tmp_path, ready_timeout=1.5), specs=[spec])
    spawned: list[str] = []

    with pytest.raises(StackError) as err:
        await stack.start(spawned.append, migrate=False, seed=False)

    assert "sleepy was not ready after 2 s" in str(err.value)
    assert "warming up" in str(err.value)
    assert stack.children == []  # stopped on the way out


async def test_stop_when_child_ignores_sigterm_then_kills_it_after_grace(tmp_path: Path) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "healthz").write_text("ok")
    stubborn = (
        "import signal, sys, http.server, functools\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={str(docroot)!r})\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), h).serve_forever()\n"
    )
    port = free_port()
    spec = ServiceSpec(
        "stubborn",
        "stubborn",
        0,
        (Probe("http", f"127.0.0.1:{port}"),),
        "",
        "",
        argv=(sys.executable, "-c", stubborn, str(port)),
    )
    stack = Stack(quick_config(tmp_path, stop_grace=1.0), specs=[spec])
    await stack.start(lambda _: None, migrate=False, seed=False)
    proc = stack.children[0].proc
    said: list[str] = []

    await stack.stop(said.append)

    assert proc.returncode == -signal.SIGKILL
    assert any("did not stop within" in line for line in said)


async def test_start_when_a_port_is_taken_then_fails_before_spawning(tmp_path: Path) -> None:
    cfg = quick_config(tmp_path, services=("edge",))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cfg.ports.edge_http))
        squatter.listen()
        stack = Stack(cfg)

        with pytest.raises(StackError, match=rf"edge: port {cfg.ports.edge_http}"):
            await stack.start(lambda _: None, migrate=False, seed=False)

    assert stack.children == []
    await asyncio.sleep(0)


def test_specs_when_router_requested_alone_in_router_in_oms_topology_then_error_says_what_to_do() -> (
    None
):
    with pytest.raises(StackError, match="--router-separate"):
        service_specs(StackConfig(router_in_oms=True, services=("quotes", "router")))
