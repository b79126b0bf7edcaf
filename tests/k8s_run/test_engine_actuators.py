"""The Engine in-process on the Kubernetes target: recovery policies act on the real API server.

A degrade patches a ConfigMap and a circuit-break re-weights an HTTPRoute and a VirtualService while
the SLO (real Prometheus) is breached; both are reverted exactly by the end of the run. The test flips
the exporter's value from the engine's own event stream (no sleeps). The Chaos Mesh controller's
bookkeeping is played by :class:`kube.standin.ChaosMeshStandIn`. (Moved from the kmock emulator.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kube.apiproxy import ApiProxy
from kube.realshop import chaos_items, names, read
from kube.testbed import Testbed

from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_file
from k8s_run.conftest import BAD, GOOD, Metrics, experiment, in_namespace, write

pytestmark = pytest.mark.usefixtures("standin")


def configmap(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "flags", "namespace": ns, "labels": {"team": "checkout"}},
            "data": {"payment_channel": "primary", "retries": "3"}}


def undo_keys(obj: dict[str, Any] | None) -> list[str]:
    assert obj is not None
    return sorted(k for k in obj["metadata"].get("annotations") or {} if k.startswith("undo.aftershock.io/"))


def httproute(ns: str) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "payments", "namespace": ns},
            "spec": {"parentRefs": [{"name": "shop-gw"}],
                     "rules": [{"backendRefs": [{"name": "payment-gateway", "port": 8080},
                                                {"name": "payment-backup", "port": 8080, "weight": 1}]},
                               {"matches": [{"path": {"type": "PathPrefix", "value": "/refunds"}}],
                                "backendRefs": [{"name": "payment-gateway", "port": 8080, "weight": 80},
                                                {"name": "payment-backup", "port": 8080, "weight": 20}]}]}}


def virtualservice(ns: str) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "payments", "namespace": ns},
            "spec": {"hosts": [f"payments.{ns}.svc.cluster.local"],
                     "http": [{"route": [{"destination": {"host": f"payment-gateway.{ns}.svc.cluster.local"}},
                                         {"destination": {"host": "payment-backup"}, "weight": 10}]}]}}


def engine(tmp_path: Path, kubeconfig: Path, metrics: Metrics, **extra: Any) -> Engine:
    return Engine(EngineSettings(state_dir=tmp_path / "state", prometheus=metrics.url,
                                 kubeconfig=str(kubeconfig), **extra))


def nothing_left(bed: Testbed, ns: str) -> bool:
    return chaos_items(bed, ns) == [] and names(bed, f"/apis/batch/v1/namespaces/{ns}/jobs", "aftershock.io/run-id") == []


async def test_degrade_patches_a_configmap_and_reverts_it_exactly_through_conflicts(
        kube_testbed: Testbed, api_proxy: ApiProxy, ns: str, metrics: Metrics, series: str, tmp_path: Path) -> None:
    """Through the fault proxy: a third of the ConfigMap writes answer 409 (re-read and retried)."""
    cm = kube_testbed.apply(configmap(ns))
    api_proxy.add("http-abort", "conflicts", code=409, percent=30, method="PATCH",
                  path_prefix=f"/api/v1/namespaces/{ns}/configmaps/flags")
    doc = in_namespace(experiment("k8s-degrade", series, duration="4s", policies=[{
        "name": "backup-channel", "when": {"slo": "latency"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                          "data": {"payment_channel": "backup", "fallback": "on"}}}}}]), ns)
    seen: dict[str, Any] = {}

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.ActionApplied):
            seen["during"] = read(kube_testbed, cm)
            metrics.set(series, GOOD)  # the fallback works

    eng = engine(tmp_path, api_proxy.kubeconfig(tmp_path / "proxied"), metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert seen["during"]["data"] == {"payment_channel": "backup", "retries": "3", "fallback": "on"}
    after = read(kube_testbed, cm)
    assert after is not None
    assert after["data"] == cm["data"]  # the key we added is gone, the old value is back
    assert after["metadata"]["labels"] == cm["metadata"]["labels"]
    assert any(isinstance(e, ev.Reverted) and not e.kept for e in eng._runs[final.run_id].events)
    assert nothing_left(kube_testbed, ns)


async def test_circuit_break_reweights_routes_and_restores_them_exactly(
        kube_testbed: Testbed, ns: str, metrics: Metrics, series: str, tmp_path: Path) -> None:
    route = kube_testbed.apply(httproute(ns))
    vs = kube_testbed.apply(virtualservice(ns))
    doc = in_namespace(experiment("k8s-breaker", series, duration="8s", policies=[{
        "name": "isolate-gateway", "when": {"slo": "latency"}, "action": "circuit-break",
        "with": {"service": "payment-gateway", "weight": 0, "openFor": "1s", "halfOpenWeight": 10,
                 "halfOpenProbes": 2}}]), ns)
    states: list[tuple[str, list[Any], list[Any]]] = []
    notes: list[list[list[str]]] = []

    def weights() -> tuple[list[Any], list[Any]]:
        r, v = read(kube_testbed, route), read(kube_testbed, vs)
        assert r is not None and v is not None
        return ([[b.get("weight") for b in rule["backendRefs"]] for rule in r["spec"]["rules"]],
                [d.get("weight") for d in v["spec"]["http"][0]["route"]])

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.BreakerChanged):
            states.append((event.state, *weights()))
            notes.append([undo_keys(read(kube_testbed, r)) for r in (route, vs)])
            if event.state == "open":
                metrics.set(series, GOOD)  # traffic is off the slow backend: the SLO holds again

    eng = engine(tmp_path, kube_testbed.kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert [s[0] for s in states] == ["open", "half-open", "closed"]
    # open: only the gateway's entries change; others keep theirs (the CRD defaulted the absent
    # HTTPRoute weight to 1 on the way in; Istio keeps an absent weight absent)
    assert states[0][1:] == ([[0, 1], [0, 20]], [0, 10])
    assert states[1][1:] == ([[10, 1], [10, 20]], [10, 10])
    assert states[2][1:] == ([[1, 1], [80, 20]], [None, 10])  # closed: restored exactly
    # the reaper's record rides on each route while the breaker is open or half-open (one per run and
    # service, updated in place), and the restore removes it in the same patch
    key = f"undo.aftershock.io/{final.run_id}.0"
    assert notes == [[[key], [key]], [[key], [key]], [[], []]]
    assert (read(kube_testbed, route) or {})["spec"] == route["spec"]
    assert (read(kube_testbed, vs) or {})["spec"] == vs["spec"]
    assert nothing_left(kube_testbed, ns)


async def test_breaker_still_open_at_the_end_is_restored_by_the_final_revert(
        kube_testbed: Testbed, ns: str, metrics: Metrics, series: str, tmp_path: Path) -> None:
    route = kube_testbed.apply(httproute(ns))
    original = copy.deepcopy(route["spec"])
    doc = in_namespace(experiment("k8s-breaker-open", series, duration="2s", policies=[{
        "name": "isolate-gateway", "when": {"slo": "latency"}, "action": "circuit-break",
        "with": {"service": "payment-gateway", "weight": 0, "openFor": "5m"}}]), ns)

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.BreakerChanged):
            metrics.set(series, GOOD)

    eng = engine(tmp_path, kube_testbed.kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert (read(kube_testbed, route) or {})["spec"] == original
    assert undo_keys(read(kube_testbed, route)) == []  # the reaper's record went with the restore


async def test_collision_refuses_and_force_only_warns(kube_testbed: Testbed, ns: str, metrics: Metrics, series: str,
                                                      tmp_path: Path) -> None:
    kube_testbed.apply({"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
                        "metadata": {"name": "someone-elses", "namespace": ns},
                        "spec": {"action": "loss", "mode": "all", "loss": {"loss": "10"}, "duration": "1h",
                                 "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}}}})
    loaded = load_file(write(tmp_path, in_namespace(experiment("k8s-collide", series), ns)))
    refused = await engine(tmp_path, kube_testbed.kubeconfig, metrics).run(loaded)
    assert refused.verdict == "invalid" and refused.exit_code == 2
    assert "would collide with running chaos" in refused.reason

    forced = engine(tmp_path, kube_testbed.kubeconfig, metrics, force=True)
    events: list[ev.RunEvent] = []
    forced.subscribe(events.append)
    final = await forced.run(loaded, dry_run=True)
    assert final.verdict == "passed"
    (passed,) = [e for e in events if isinstance(e, ev.PreflightPassed)]
    assert any(f"warning: NetworkChaos {ns}/someone-elses (not managed by aftershock) already selects" in c
               for c in passed.checks)
    assert [o["metadata"]["name"] for o in chaos_items(kube_testbed, ns)] == ["someone-elses"]


async def test_namespace_flag_moves_the_run(kube_testbed: Testbed, ns: str, metrics: Metrics, series: str,
                                            tmp_path: Path) -> None:
    staging = kube_testbed.namespace("staging")
    for i in range(2):
        kube_testbed.running_pod(staging, f"order-{i}", {"app": "order-service"})
        kube_testbed.running_pod(staging, f"payment-{i}", {"app": "payment-gateway"})
    doc = in_namespace(experiment("k8s-staging", series), ns)
    doc["spec"]["blastRadius"]["namespaces"] = [ns, staging]
    eng = engine(tmp_path, kube_testbed.kubeconfig, metrics, namespace=staging)
    events: list[ev.RunEvent] = []
    eng.subscribe(events.append)
    final = await eng.run(load_file(write(tmp_path, doc)), dry_run=True)
    assert final.verdict == "passed", final.reason
    (passed,) = [e for e in events if isinstance(e, ev.PreflightPassed)]
    assert len(passed.targets) == 2 and f"NetworkChaos {staging}/" in passed.targets[0]
    assert passed.targets[1] == f"namespace {staging}: up to 1 of 2 matching pod(s) (50%) over the run"
    assert f"{staging}/order-0, {staging}/order-1" in passed.targets[0]
    assert chaos_items(kube_testbed, staging) == [] and chaos_items(kube_testbed, ns) == []  # dry run


async def test_shrink_patches_the_live_fault_and_keeps_its_duration(
        kube_testbed: Testbed, ns: str, metrics: Metrics, series: str, tmp_path: Path) -> None:
    doc = in_namespace(experiment("k8s-shrink", series, duration="3s", policies=[{
        "name": "smaller", "when": {"slo": "latency"}, "action": "shrink",
        "with": {"fault": "payment-delay", "latency": "20ms", "jitter": "5ms"}}]), ns)
    seen: dict[str, Any] = {}

    def on_event(event: ev.RunEvent) -> None:
        if isinstance(event, ev.FaultInjected):
            metrics.set(series, BAD)
        elif isinstance(event, ev.ActionApplied):
            (obj,) = chaos_items(kube_testbed, ns)
            seen["spec"] = obj["spec"]
            metrics.set(series, GOOD)

    eng = engine(tmp_path, kube_testbed.kubeconfig, metrics)
    eng.subscribe(on_event)
    final = await eng.run(load_file(write(tmp_path, doc)))
    assert final.verdict == "deviated", final.reason
    assert seen["spec"]["delay"]["latency"] == "20ms" and seen["spec"]["delay"]["jitter"] == "5ms"
    assert seen["spec"]["duration"] == "3s"
    assert chaos_items(kube_testbed, ns) == []
