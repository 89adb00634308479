"""Operations assets in deploy/: Prometheus rules, Grafana dashboard, OTel collector, Kubernetes base.

Checks what a broken asset would cost an SRE: a file that does not parse, an alert without a runbook,
a panel or alert on a metric no service exports, a Deployment without probes or resources, a rule
whose PromQL does not fire when it should (promtool, when installed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
OWNED_DIRS = ("prometheus", "grafana", "k8s", "otel")
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fxmesh-overview.json"
K8S = DEPLOY / "k8s"

GRPC_SERVICES = ("oms", "router", "fixgw", "quotes", "admin")
METRIC_NAME = re.compile(r"^fxmesh_[a-z]+_[a-z_]+$")
METRIC_REF = re.compile(r"\bfxmesh_[A-Za-z0-9_]+")
RATE_OF = re.compile(r"\b(?:rate|increase|irate)\(\s*(fxmesh_[a-z_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def known_metrics() -> dict[str, str]:
    """Every metric the services export that deploy/ may use, with its Prometheus type."""
    metrics = {
        "fxmesh_oms_orders_total": "counter",
        "fxmesh_oms_order_latency_seconds": "histogram",
        "fxmesh_oms_outbox_lag_seconds": "gauge",
        "fxmesh_oms_group_commit_size": "histogram",
        "fxmesh_oms_group_commit_reruns_total": "counter",
        "fxmesh_oms_group_commit_wait_seconds": "histogram",
        "fxmesh_oms_group_commit_transaction_seconds": "histogram",
        "fxmesh_router_decisions_total": "counter",
        "fxmesh_router_execute_seconds": "histogram",
        "fxmesh_bbook_net_volume_lots": "gauge",
        "fxmesh_bbook_hedge_requests_total": "counter",
        "fxmesh_router_hedge_failures_total": "counter",
        "fxmesh_router_hedge_oldest_open_seconds": "gauge",
        "fxmesh_router_leader": "gauge",
        "fxmesh_router_house_oldest_unbooked_seconds": "gauge",
        "fxmesh_quotes_ticks_accepted_total": "counter",
        "fxmesh_quotes_ticks_dropped_total": "counter",
        "fxmesh_quotes_tick_to_redis_seconds": "histogram",
        "fxmesh_quotes_lp_quote_latency_seconds": "histogram",
        "fxmesh_fixgw_ticks_received_total": "counter",
        "fxmesh_fixgw_session_logged_on": "gauge",
        "fxmesh_fixgw_ticks_forwarded_total": "counter",
        "fxmesh_fixgw_tick_forward_lag_seconds": "histogram",
        "fxmesh_fixgw_fills_total": "counter",
        "fxmesh_fixgw_order_rejects_total": "counter",
        "fxmesh_fixgw_orders_held": "gauge",
        "fxmesh_fixgw_lp_fill_latency_seconds": "histogram",
        "fxmesh_edge_http_requests_total": "counter",
        "fxmesh_edge_http_request_seconds": "histogram",
        "fxmesh_edge_ws_connections": "gauge",
        "fxmesh_edge_ws_messages_sent_total": "counter",
        "fxmesh_edge_ws_ticks_conflated_total": "counter",
    }
    for svc in ("edge", "oms"):  # fxmesh.admission, one set per service that admits
        metrics[f"fxmesh_{svc}_admission_refused_total"] = "counter"
        for gauge in ("in_flight", "queued", "limit"):
            metrics[f"fxmesh_{svc}_admission_{gauge}"] = "gauge"
    for svc in GRPC_SERVICES:
        metrics[f"fxmesh_{svc}_grpc_server_requests_total"] = "counter"
        metrics[f"fxmesh_{svc}_grpc_server_duration_seconds"] = "histogram"
    return metrics


def yaml_files() -> list[Path]:
    return sorted(
        p for d in OWNED_DIRS for p in (DEPLOY / d).rglob("*") if p.suffix in {".yml", ".yaml"}
    )


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[str]:
    """Every panel query, with the $svc row variable expanded over its options."""
    dash = dashboard()
    svc_var = next(v for v in dash["templating"]["list"] if v["name"] == "svc")
    options = [o["value"] for o in svc_var["options"]]
    exprs: list[str] = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            if "${svc}" in expr:
                exprs.extend(expr.replace("${svc}", svc) for svc in options)
            else:
                exprs.append(expr)
    assert not any("$svc" in e or "fxmesh_$" in e for e in exprs), "unexpanded variable"
    return exprs


def k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def base_metric(name: str, known: dict[str, str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        stem = name.removesuffix(suffix)
        if stem != name and known.get(stem) == "histogram":
            return stem
    return name


def assert_metrics_known(exprs: list[str], known: dict[str, str]) -> None:
    used = {base_metric(m, known) for e in exprs for m in METRIC_REF.findall(e)}
    assert used, "no fxmesh metric found at all"
    for name in sorted(used):
        assert METRIC_NAME.match(name), f"{name} does not follow fxmesh_<service>_<thing>_<unit>"
        assert name in known, f"{name} is not exported by any service"
    for expr in exprs:
        for name in METRIC_REF.findall(expr):
            base = base_metric(name, known)
            if known.get(base) == "histogram":
                assert name != base, f"histogram {base} used without _bucket/_sum/_count: {expr}"
        for name in RATE_OF.findall(expr):
            kind = known.get(base_metric(name, known))
            assert kind in {"counter", "histogram"}, f"rate() over a {kind}: {expr}"


# --- files -------------------------------------------------------------------------------------


def test_parse_every_yaml_when_loaded_then_no_error() -> None:
    files = yaml_files()
    assert len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"


def test_parse_dashboard_when_loaded_then_valid_json_with_datasource_variable() -> None:
    dash = dashboard()
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert [o["value"] for o in variables["svc"]["options"]] == list(GRPC_SERVICES)
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_dashboard_rows_when_listed_then_cover_every_area() -> None:
    rows = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    for area in ("Order flow", "Routing", "Quotes", "FIX sessions", "Edge", "gRPC"):
        assert any(area in r for r in rows), f"no row for {area}: {rows}"
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


# --- metric names --------------------------------------------------------------------------------


def test_metrics_in_alerts_when_checked_then_all_exported_and_typed_right(
    known_metrics: dict[str, str],
) -> None:
    assert_metrics_known([r["expr"] for r in alert_rules()], known_metrics)


def test_metrics_in_dashboard_when_checked_then_all_exported_and_typed_right(
    known_metrics: dict[str, str],
) -> None:
    assert_metrics_known(dashboard_exprs(), known_metrics)


# --- alerts ------------------------------------------------------------------------------------


def test_every_alert_when_read_then_has_severity_summary_description_runbook() -> None:
    rules = alert_rules()
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        for key in ("summary", "description", "runbook"):
            assert str(rule["annotations"].get(key, "")).strip(), f"{name} lacks {key}"


def test_alert_set_when_listed_then_covers_the_sre_checklist() -> None:
    names = {r["alert"] for r in alert_rules()}
    assert names >= {
        "FxmeshTargetDown",
        "FixSessionLoggedOff",
        "FixgwLpSilent",
        "FixgwTicksNotForwarded",
        "QuotesStale",
        "QuotesTickDropRateHigh",
        "OmsOrderLatencyP99High",
        "OmsOrderRejectRatioSpike",
        "GrpcErrorRatioHigh",
        "OmsOutboxLagHigh",
        "BbookHedgeRequested",
        "RouterHedgeFailing",
        "RouterHedgePending",
        "RouterNoLeader",
        "RouterHouseFillUnbooked",
        "EdgeHttp5xxRatioHigh",
        "EdgeShedding",
        "FixgwOrdersHeld",
        "FixgwLpRejectRatioHigh",
        "FixgwLpFillLatencyHigh",
    }
    grpc_services = {
        r["labels"]["service"] for r in alert_rules() if r["alert"] == "GrpcErrorRatioHigh"
    }
    assert grpc_services == set(GRPC_SERVICES)


def test_scrape_config_when_read_then_one_job_per_service_on_local_ports() -> None:
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert jobs == {
        "oms": ["127.0.0.1:9101"],
        "router": ["127.0.0.1:9102"],
        "fixgw": ["127.0.0.1:9103"],
        "quotes": ["127.0.0.1:9104"],
        "edge": ["127.0.0.1:8080"],
        "admin": ["127.0.0.1:8081"],
        "lpsim": ["127.0.0.1:9877"],
    }
    assert cfg["rule_files"] == ["alerts.yml"]


# --- OpenTelemetry -------------------------------------------------------------------------------


def test_otel_collector_when_read_then_otlp_grpc_4317_to_backend_and_debug() -> None:
    cfg = yaml.safe_load((DEPLOY / "otel" / "collector.yaml").read_text())
    assert cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    pipeline = cfg["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline[kind]:
            assert component in cfg[kind], f"{component} used in the pipeline but not defined"
    assert "debug" in pipeline["exporters"]
    assert any(e.startswith("otlp") for e in pipeline["exporters"])


# --- Kubernetes ----------------------------------------------------------------------------------


def test_kustomization_when_read_then_lists_every_manifest_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_every_deployment_when_read_then_has_probes_resources_and_scrape_annotations() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {"oms", "router", "fixgw", "quotes", "edge", "admin"}
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert container["command"] == ["python", "-m", name]
        for probe in ("readinessProbe", "livenessProbe"):
            spec = container[probe]
            if name in {"edge", "admin"}:
                ready_path = (
                    "/readyz" if (name, probe) == ("admin", "readinessProbe") else "/healthz"
                )
                assert spec["httpGet"]["path"] == ready_path, name
            else:
                assert spec["grpc"]["port"] in {p["containerPort"] for p in container["ports"]}
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        notes = pod["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert int(notes["prometheus.io/port"]) in {p["containerPort"] for p in container["ports"]}
        refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
        assert refs == {"fxmesh-config", "fxmesh-secrets"}
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_singletons_when_deployed_then_one_replica_replaced_with_recreate() -> None:
    deployments = of_kind("Deployment")
    for name in ("fixgw", "oms"):
        assert deployments[name]["spec"]["replicas"] == 1, name
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate", name
    # The router: two replicas, one leader (readiness asks for the RouterService's own health).
    router = deployments["router"]
    assert router["spec"]["replicas"] == 2
    (container,) = router["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["grpc"]["service"] == "fxmesh.v1.RouterService"
    for name in ("edge", "admin", "quotes"):
        assert deployments[name]["spec"]["replicas"] >= 2, name


def test_services_and_pdbs_when_read_then_select_existing_deployments() -> None:
    deployments = of_kind("Deployment")
    services = of_kind("Service")
    assert set(services) == set(deployments)
    for name, svc in services.items():
        assert svc["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]
    pdbs = of_kind("PodDisruptionBudget")
    assert set(pdbs) == {"edge", "quotes"}
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"] == deployments[name]["spec"]["selector"]
        assert pdb["spec"]["minAvailable"] < deployments[name]["spec"]["replicas"]


def test_config_when_read_then_peers_use_cluster_dns_and_secrets_are_placeholders() -> None:
    (config,) = of_kind("ConfigMap").values()
    for key in ("OMS_ADDR", "ROUTER_ADDR", "FIXGW_ADDR", "QUOTES_ADDR", "ADMIN_GRPC_ADDR"):
        value = config["data"][f"FXMESH_{key}"]
        assert not value.startswith(("127.", "localhost", "0.0.0.0")), value
    assert all(k.startswith("FXMESH_") for k in config["data"])
    (secret,) = of_kind("Secret").values()
    assert set(secret["stringData"]) == {
        "FXMESH_JWT_SECRET",
        "FXMESH_POSTGRES_DSN",
        "FXMESH_REDIS_URL",
        "FXMESH_AMQP_URL",
    }
    for value in secret["stringData"].values():
        assert "change-me" in value, "the base holds placeholders only"


def test_migration_job_when_read_then_runs_the_runtime_migrations_once() -> None:
    (job,) = of_kind("Job").values()
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["containers"][0]["command"] == ["python", "-m", "fxmesh.migrations"]


def test_kustomize_build_when_kubectl_installed_then_renders_every_object() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    rendered = [d for d in yaml.safe_load_all(out) if d]
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds.count("Deployment") == 6
    assert all(
        d["metadata"].get("namespace") == "fxmesh" for d in rendered if d["kind"] != "Namespace"
    )
    images = {
        c["image"]
        for d in rendered
        if d["kind"] in {"Deployment", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 1


# --- promtool ------------------------------------------------------------------------------------

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")


def promtool(*args: str, cwd: Path) -> None:
    assert PROMTOOL is not None
    res = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


@needs_promtool
def test_promtool_check_when_run_then_config_and_rules_valid() -> None:
    promtool("check", "config", "prometheus.yml", cwd=DEPLOY / "prometheus")
    promtool("check", "rules", "alerts.yml", cwd=DEPLOY / "prometheus")


def alert_case(
    interval: str, series: dict[str, str], alert: str, at: str, fired: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "interval": interval,
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [
            {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": f} for f in fired]}
        ],
    }


# Each case: series a service would export, and the alerts expected at one instant.
RULE_CASES = [
    # Logged off at 20 s: still pending at 40 s (20 s), firing at 60 s (40 s > 30 s).
    alert_case("10s", {'fxmesh_fixgw_session_logged_on{lp="LP1"}': "1 1 0x12"},
               "FixSessionLoggedOff", "40s", []),
    alert_case("10s", {'fxmesh_fixgw_session_logged_on{lp="LP1"}': "1 1 0x12"},
               "FixSessionLoggedOff", "60s", [{"severity": "critical", "lp": "LP1"}]),
    # EURUSD stops at 120 s, GBPUSD keeps ticking: only EURUSD is stale.
    alert_case(
        "10s",
        {
            'fxmesh_quotes_ticks_accepted_total{symbol="EURUSD"}': "0+10x12 120x12",
            'fxmesh_quotes_ticks_accepted_total{symbol="GBPUSD"}': "0+10x24",
        },
        "QuotesStale", "240s", [{"severity": "critical", "symbol": "EURUSD"}],
    ),
    # fixgw keeps receiving but stops forwarding at 60 s.
    alert_case(
        "10s",
        {
            'fxmesh_fixgw_ticks_received_total{lp="LP1"}': "0+50x20",
            "fxmesh_fixgw_ticks_forwarded_total": "0+50x6 300x14",
        },
        "FixgwTicksNotForwarded", "200s", [{"severity": "critical"}],
    ),
    # 90 % of orders between 50 and 100 ms: p99 ~ 0.1 s.
    alert_case(
        "1m",
        {
            'fxmesh_oms_order_latency_seconds_bucket{le="0.05"}': "0+10x15",
            'fxmesh_oms_order_latency_seconds_bucket{le="0.1"}': "0+100x15",
            'fxmesh_oms_order_latency_seconds_bucket{le="+Inf"}': "0+100x15",
        },
        "OmsOrderLatencyP99High", "10m", [{"severity": "warning"}],
    ),
    alert_case(
        "1m",
        {
            'fxmesh_oms_order_latency_seconds_bucket{le="0.05"}': "0+100x15",
            'fxmesh_oms_order_latency_seconds_bucket{le="+Inf"}': "0+100x15",
        },
        "OmsOrderLatencyP99High", "10m", [],
    ),
    # 1 reject a minute for an hour, then as many rejects as fills.
    alert_case(
        "1m",
        {
            'fxmesh_oms_orders_total{type="MARKET",status="FILLED"}': "0+60x80",
            'fxmesh_oms_orders_total{type="MARKET",status="REJECTED"}': "0+1x60 120+60x19",
        },
        "OmsOrderRejectRatioSpike", "72m", [{"severity": "warning"}],
    ),
    alert_case(
        "1m",
        {
            'fxmesh_oms_orders_total{type="MARKET",status="FILLED"}': "0+60x80",
            'fxmesh_oms_orders_total{type="MARKET",status="REJECTED"}': "0+1x80",
        },
        "OmsOrderRejectRatioSpike", "72m", [],
    ),
    # oms at 10 % errors fires; router at 1 % does not.
    alert_case(
        "1m",
        {
            'fxmesh_oms_grpc_server_requests_total{method="/fxmesh.v1.OmsService/PlaceOrder",code="OK"}': "0+540x15",
            'fxmesh_oms_grpc_server_requests_total{method="/fxmesh.v1.OmsService/PlaceOrder",code="INTERNAL"}': "0+60x15",
            'fxmesh_router_grpc_server_requests_total{method="/fxmesh.v1.RouterService/Execute",code="OK"}': "0+594x15",
            'fxmesh_router_grpc_server_requests_total{method="/fxmesh.v1.RouterService/Execute",code="UNAVAILABLE"}': "0+6x15",
        },
        "GrpcErrorRatioHigh", "10m", [{"severity": "warning", "service": "oms"}],
    ),
    alert_case("10s", {"fxmesh_oms_outbox_lag_seconds": "1 1 30x12"},
               "OmsOutboxLagHigh", "100s", [{"severity": "critical"}]),
    alert_case("1m", {'fxmesh_bbook_hedge_requests_total{symbol="XAUUSD"}': "0 0 1 1 1 1"},
               "BbookHedgeRequested", "3m", [{"severity": "info", "symbol": "XAUUSD"}]),
    alert_case(
        "1m",
        {
            'fxmesh_edge_http_requests_total{route="/api/orders/market",status="200"}': "0+900x15",
            'fxmesh_edge_http_requests_total{route="/api/orders/market",status="503"}': "0+100x15",
        },
        "EdgeHttp5xxRatioHigh", "10m", [{"severity": "critical"}],
    ),
    alert_case("30s", {'up{job="oms",instance="127.0.0.1:9101"}': "1 0 0 0 0 0"},
               "FxmeshTargetDown", "120s",
               [{"severity": "critical", "job": "oms", "instance": "127.0.0.1:9101"}]),
]  # fmt: skip


@needs_promtool
def test_promtool_rule_tests_when_series_break_then_expected_alerts_fire(tmp_path: Path) -> None:
    # promtool compares annotations exactly; the cases check expressions, `for` and labels, so
    # they run against a copy of the rules without annotations.
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "10s", "tests": RULE_CASES}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    promtool("test", "rules", "tests.yml", cwd=tmp_path)


def test_a_book_metrics_in_alerts_when_services_imported_then_registered_with_that_type() -> None:
    # The hand-kept list above must name what the A-book code really registers.
    from prometheus_client import REGISTRY

    import fixgw.orders.manager  # noqa: F401  (registers the metrics)

    registered = {m.name: m.type for m in REGISTRY.collect()}
    for name, kind in {
        "fxmesh_fixgw_fills": "counter",
        "fxmesh_fixgw_order_rejects": "counter",
        "fxmesh_fixgw_orders_held": "gauge",
        "fxmesh_fixgw_lp_fill_latency_seconds": "histogram",
    }.items():
        assert registered.get(name) == kind, name


def test_lp_board_metrics_in_alerts_when_quotes_imported_then_registered_with_that_type() -> None:
    from prometheus_client import REGISTRY

    import quotes.metrics  # noqa: F401  (registers the metrics)

    registered = {m.name: m.type for m in REGISTRY.collect()}
    assert registered.get("fxmesh_quotes_lp_quote_latency_seconds") == "histogram"
    assert registered.get("fxmesh_quotes_lp_ticks") == "counter"
    assert registered.get("fxmesh_quotes_lp_ticks_dropped") == "counter"
