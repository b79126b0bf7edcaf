"""The Engine in-process on the Kubernetes target: recovery policies act on the emulated cluster.

A degrade patches a ConfigMap and a circuit-break re-weights an HTTPRoute and a VirtualService
while the SLO (real Prometheus) is breached; both are reverted exactly by the end of the run.
The test flips the exporter's value from the engine's own event stream (no sleeps).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kmock
import pytest
from k8s.emulator import ClusterEmulator

from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_file
from k8s_run.conftest import BAD, GOOD, Metrics, experiment, live, write

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "flags", "namespace": "shop", "labels": {"team": "checkout"}},
             "data": {"payment_channel": "primary", "retries": "3"}}
HTTPROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "payments", "namespace": "shop"},
    "spec": {"parentRefs": [{"name": "shop-gw"}],
             "rules": [{"backendRefs": [{"name": "payment-gateway", "port": 8080},
                                        {"name": "payment-backup", "port": 8080, "weight": 1}]},
                       {"matches": [{"path": {"type": "PathPrefix", "value": "/refunds"}}],
                        "backendRefs": [{"name": "payment-gateway", "port": 8080, "weight": 80},
                                        {"name": "payment-backup", "port": 8080, "weight": 20}]}]},
}
VIRTUALSERVICE = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
    "metadata": {"name": "payments", "namespace": "shop"},
    "spec": {"hosts": ["payments.shop.svc.cluster.local"],
             "http": [{"route": [{"destination": {"host": "payment-gateway.shop.svc.cluster.local"},
                                  "weight": 90},
                                 {"destination": {"host": "payment-backup"}, "weight": 10}]}]},
}


def engine(tmp_path: Path, kubeconfig: Path, metrics: Metrics) -> Engine:
    return Engine(EngineSettings(state_dir=tmp_path / "state", prometheus=metrics.url,
                                 kubeconfig=str(kubeconfig)))


@pytest.mark.usefixtures("shop")
async def test_degrade_patches_a_configmap_and_reverts_it_exactly(
        cluster: ClusterEmulator, kubeconfig: Path, metrics: Metrics, series: str, tmp_path: Path) -> None:
    cluster.add(CONFIGMAP)
    doc = experiment("k8s-degrade", series, duration="4s", policies=[{
        "name": "backup-channel", "when": {"slo": "latency"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                          "data": {"payment_channel": "backup", "fallback": "on"}}}}}])
    seen: dict[str, Any] = {}

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.ActionApplied):
            seen["during"] = cluster.get("ConfigMap", "shop", "flags")
            metrics.set(series, GOOD)  # the fallback works

    eng = engine(tmp_path, kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert seen["during"]["data"] == {"payment_channel": "backup", "retries": "3", "fallback": "on"}
    after = cluster.get("ConfigMap", "shop", "flags")
    assert after is not None
    assert after["data"] == CONFIGMAP["data"]  # the key we added is gone, the old value is back
    assert after["metadata"]["labels"] == CONFIGMAP["metadata"]["labels"]
    # Every write was resourceVersion-checked (read before write).
    patches = list(cluster[kmock.method.PATCH, kmock.resource("v1/configmaps")])
    assert len(patches) == 2
    assert all(p.data["metadata"]["resourceVersion"] for p in patches)
    assert any(isinstance(e, ev.Reverted) and not e.kept for e in eng._runs[final.run_id].events)
    assert live(cluster, "networkchaos") == [] and live(cluster, "jobs") == []


@pytest.mark.usefixtures("shop")
async def test_circuit_break_reweights_routes_and_restores_them_exactly(
        cluster: ClusterEmulator, kubeconfig: Path, metrics: Metrics, series: str, tmp_path: Path) -> None:
    cluster.install_routes()
    cluster.add(HTTPROUTE)
    cluster.add(VIRTUALSERVICE)
    doc = experiment("k8s-breaker", series, duration="8s", policies=[{
        "name": "isolate-gateway", "when": {"slo": "latency"}, "action": "circuit-break",
        "with": {"service": "payment-gateway", "weight": 0, "openFor": "1s", "halfOpenWeight": 10,
                 "halfOpenProbes": 2}}])
    states: list[tuple[str, list[Any], list[Any]]] = []

    def weights() -> tuple[list[Any], list[Any]]:
        route = cluster.get("HTTPRoute", "shop", "payments")
        vs = cluster.get("VirtualService", "shop", "payments")
        assert route is not None and vs is not None
        return ([[b.get("weight") for b in r["backendRefs"]] for r in route["spec"]["rules"]],
                [d.get("weight") for d in vs["spec"]["http"][0]["route"]])

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.BreakerChanged):
            states.append((event.state, *weights()))
            if event.state == "open":
                metrics.set(series, GOOD)  # traffic is off the slow backend: the SLO holds again

    eng = engine(tmp_path, kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert [s[0] for s in states] == ["open", "half-open", "closed"]
    # open: only the gateway's entries change (an absent weight too); others keep theirs
    assert states[0][1:] == ([[0, 1], [0, 20]], [0, 10])
    assert states[1][1:] == ([[10, 1], [10, 20]], [10, 10])
    # closed: restored exactly, including the weight that was absent before
    assert states[2][1:] == ([[None, 1], [80, 20]], [90, 10])
    route = cluster.get("HTTPRoute", "shop", "payments")
    vs = cluster.get("VirtualService", "shop", "payments")
    assert route is not None and vs is not None
    assert route["spec"] == HTTPROUTE["spec"]
    assert vs["spec"] == VIRTUALSERVICE["spec"]
    assert live(cluster, "networkchaos") == [] and live(cluster, "jobs") == []


@pytest.mark.usefixtures("shop")
async def test_breaker_still_open_at_the_end_is_restored_by_the_final_revert(
        cluster: ClusterEmulator, kubeconfig: Path, metrics: Metrics, series: str, tmp_path: Path) -> None:
    cluster.install_routes(("HTTPRoute",))
    cluster.add(HTTPROUTE)
    doc = experiment("k8s-breaker-open", series, duration="2s", policies=[{
        "name": "isolate-gateway", "when": {"slo": "latency"}, "action": "circuit-break",
        "with": {"service": "payment-gateway", "weight": 0, "openFor": "5m"}}])
    original = copy.deepcopy(HTTPROUTE["spec"])

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.BreakerChanged):
            metrics.set(series, GOOD)

    eng = engine(tmp_path, kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    route = cluster.get("HTTPRoute", "shop", "payments")
    assert route is not None and route["spec"] == original


FOREIGN = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
           "metadata": {"name": "someone-elses", "namespace": "shop"},
           "spec": {"action": "loss", "mode": "all", "loss": {"loss": "10"}, "duration": "1h",
                    "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "order-service"}}}}


@pytest.mark.usefixtures("shop")
async def test_collision_refuses_and_force_only_warns(cluster: ClusterEmulator, kubeconfig: Path,
                                                      metrics: Metrics, series: str, tmp_path: Path) -> None:
    cluster.add(FOREIGN)
    loaded = load_file(write(tmp_path, experiment("k8s-collide", series)))
    refused = await engine(tmp_path, kubeconfig, metrics).run(loaded)
    assert refused.verdict == "invalid" and refused.exit_code == 2
    assert "would collide with running chaos" in refused.reason

    forced = Engine(EngineSettings(state_dir=tmp_path / "state", prometheus=metrics.url,
                                   kubeconfig=str(kubeconfig), force=True))
    events: list[ev.RunEvent] = []
    forced.subscribe(events.append)
    final = await forced.run(loaded, dry_run=True)
    assert final.verdict == "passed"
    (passed,) = [e for e in events if isinstance(e, ev.PreflightPassed)]
    assert any("warning: NetworkChaos shop/someone-elses (not managed by aftershock) already selects"
               in c for c in passed.checks)
    assert live(cluster, "networkchaos") == [("networkchaos", "shop", "someone-elses")]


async def test_namespace_flag_moves_the_run(cluster: ClusterEmulator, kubeconfig: Path, metrics: Metrics,
                                            series: str, tmp_path: Path) -> None:
    from k8s.conftest import pod

    for i in range(2):
        cluster.add(pod(f"order-{i}", {"app": "order-service"}, namespace="staging"))
        cluster.add(pod(f"payment-{i}", {"app": "payment-gateway"}, namespace="staging"))
    doc = experiment("k8s-staging", series)
    doc["spec"]["blastRadius"]["namespaces"] = ["shop", "staging"]
    eng = Engine(EngineSettings(state_dir=tmp_path / "state", prometheus=metrics.url,
                                kubeconfig=str(kubeconfig), namespace="staging"))
    events: list[ev.RunEvent] = []
    eng.subscribe(events.append)
    final = await eng.run(load_file(write(tmp_path, doc)), dry_run=True)
    assert final.verdict == "passed", final.reason
    (passed,) = [e for e in events if isinstance(e, ev.PreflightPassed)]
    assert len(passed.targets) == 2 and "NetworkChaos staging/" in passed.targets[0]
    assert passed.targets[1] == "namespace staging: up to 1 of 2 matching pod(s) (50%) over the run"
    assert "staging/order-0, staging/order-1" in passed.targets[0]
    posts = list(cluster[kmock.method.POST, kmock.resource("chaos-mesh.org/v1alpha1/networkchaos")])
    assert [p.namespace for p in posts] == ["staging"] and posts[0].params.get("dryRun") == "All"


@pytest.mark.usefixtures("shop")
async def test_shrink_patches_the_live_fault_and_keeps_its_duration(
        cluster: ClusterEmulator, kubeconfig: Path, metrics: Metrics, series: str, tmp_path: Path) -> None:
    doc = experiment("k8s-shrink", series, duration="3s", policies=[{
        "name": "smaller", "when": {"slo": "latency"}, "action": "shrink",
        "with": {"fault": "payment-delay", "latency": "20ms", "jitter": "5ms"}}])
    seen: dict[str, Any] = {}

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.ActionApplied):
            (key,) = live(cluster, "networkchaos")
            seen["spec"] = cluster.get("NetworkChaos", key[1], key[2])["spec"]  # type: ignore[index]
            metrics.set(series, GOOD)

    eng = engine(tmp_path, kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert seen["spec"]["delay"] == {"latency": "20ms", "jitter": "5ms", "correlation": "0"}
    assert seen["spec"]["duration"] == "3s"
    assert live(cluster, "networkchaos") == []
