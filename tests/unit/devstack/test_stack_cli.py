"""The command line: the banner a developer reads, and down/status with nothing running."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.cli import banner, build_parser, run
from devstack.supervisor import Child, Stack, StackConfig, StackPorts, service_specs


def test_banner_when_local_profile_then_shows_every_service_credentials_and_first_order(
    tmp_path: Path,
) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    stack = Stack(cfg)
    for spec in service_specs(cfg):
        proc = subprocess.Popen(["true"])
        proc.wait()
        stack.children.append(Child(spec, proc, stack.log_file(spec.name)))

    text = banner(stack)

    for name in ("lpsim", "quotes", "fixgw", "router", "oms", "admin", "edge"):
        assert f"{tmp_path / 'logs' / name}.log" in text
    assert "http://127.0.0.1:8080/api" in text
    assert "http://127.0.0.1:9101/metrics" in text
    assert "login demo / password demo1234" in text
    assert "admin / admin1234" in text
    assert "curl -s -X POST http://127.0.0.1:8080/api/orders/market" in text
    assert '["accessToken"]' in text


def test_banner_when_test_profile_then_prints_no_credentials(tmp_path: Path) -> None:
    stack = Stack(StackConfig(run_dir=tmp_path, profile="test", ports=StackPorts.free()))

    assert "password" not in banner(stack)


async def test_down_when_nothing_runs_then_says_so_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FXMESH_RUN_DIR", str(tmp_path))

    assert await run(["down"]) == 0

    assert "no fxmesh stack is running here" in capsys.readouterr().out


def test_up_when_no_topology_given_then_router_in_oms_and_router_separate_turns_it_off() -> None:
    assert build_parser().parse_args(["up"]).router_in_oms is True
    assert build_parser().parse_args(["up", "--router-in-oms"]).router_in_oms is True
    assert build_parser().parse_args(["up", "--router-separate"]).router_in_oms is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--router-in-oms", "--router-separate"])
