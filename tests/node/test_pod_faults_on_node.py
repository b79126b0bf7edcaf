"""pod-kill and container-kill through the real CLI on the node, to a verdict.

``aftershock run`` (subprocess, the testbed's kubeconfig) compiles a ``pod-kill`` / ``container-kill``
fault to a PodChaos, Chaos Mesh's controller (pod-kill) or its daemon through containerd
(container-kill) acts on the shop's pods, an SLO that really depends on the killed process breaches
in the session's Prometheus (Debian's binary), the rollback policy deletes the object, Chaos Mesh
releases it, the workload comes back (a Deployment's new pod; the kubelet's restart of the
container) and the SLO holds again: the verdict is ``deviated`` (exit 1) and no chaos object of ours
is left.

Both kinds are one-shot in Chaos Mesh (its records stay ``Injected`` until the object is deleted;
``spec.duration`` does not end them), so what ends the fault here is the policy's rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_run.conftest import Cli, experiment, in_namespace, write

from chaos.demo.prometheus import PrometheusServer

from .conftest import NODE_TIMEOUT, PAYMENT_PORT, demo_pod, errors_query, pod_ready, query, until, wait_for

pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]
POOL = "payment-pool"


def pool_query(ns: str) -> str:
    """How many payment-pool pods answered their scrape, at worst over the last 2 s (a subquery: a pod
    replaced between two scrapes still counts as a gap)."""
    return f'min_over_time((sum(up{{namespace="{ns}",app="{POOL}"}}) or vector(0))[2s:250ms])'


def pool_pods(node_testbed: Any, ns: str) -> list[dict[str, Any]]:
    with node_testbed.admin() as api:
        return list(api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": f"app={POOL}"})
                    .json()["items"])


def pod_chaos(node_testbed: Any, ns: str) -> list[dict[str, Any]]:
    with node_testbed.admin() as api:
        return list(api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/podchaos").json()["items"])


@pytest.fixture(scope="module")
def pool(node_testbed: Any, shop: str, prom: PrometheusServer) -> Iterator[str]:
    """A one-replica Deployment of the demo's payment gateway in the shop (``app=payment-pool``, its
    metrics port scraped like the shop's pods), up in Prometheus; deleted again at the end, so the
    shop has its two scraped pods back."""
    template = demo_pod("unused", POOL, PAYMENT_PORT, {})
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": POOL},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": POOL}},
                           "template": {"metadata": {"labels": {"app": POOL}}, "spec": template["spec"]}}}
    with node_testbed.admin() as api:
        api.post(f"/apis/apps/v1/namespaces/{shop}/deployments", json=deployment).raise_for_status()
    until(lambda: float(query(prom, pool_query(shop))[0]["value"][1]) >= 1, "payment-pool scraped up", 120)
    try:
        yield POOL
    finally:
        with node_testbed.admin() as api:
            api.delete(f"/apis/apps/v1/namespaces/{shop}/deployments/{POOL}",
                       params={"propagationPolicy": "Foreground"}).raise_for_status()
        until(lambda: pool_pods(node_testbed, shop) == [], "payment-pool's pods gone", 120)


def killing(name: str, shop: str, prom: PrometheusServer, fault: dict[str, Any],
            slo: dict[str, Any]) -> dict[str, Any]:
    """One fault of ``fault``'s kind on one pod, ``slo`` as the steady state, rolled back on its breach."""
    doc = in_namespace(experiment(name, "unused", duration="60s", max_targets=1, recovery="60s",
                                  prometheus=prom.url,
                                  policies=[{"name": "rollback", "when": {"slo": slo["name"]}, "action": "rollback"}]),
                       shop)
    doc["spec"]["faults"] = [{"mode": "one", "duration": "60s", **fault}]
    doc["spec"]["slos"] = [slo]
    doc["spec"]["steadyState"] = [slo["name"]]
    return doc


async def run_to_verdict(node_testbed: Any, prom: PrometheusServer, doc: dict[str, Any],
                         tmp_path: Path, record: str) -> Cli:
    """The real CLI: injected (Chaos Mesh reports ``record`` injected, and only it) → the policy
    fired → the fault removed by it → the verdict ``deviated`` (exit 1); returns the CLI."""
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    injected = await running.until("FaultInjected", timeout=120)
    fired = await running.until("PolicyFired", timeout=120)
    assert fired["policy"] == "rollback" and fired["action"] == "rollback", fired
    removed = await running.until("FaultRemoved", timeout=120)
    assert removed["reason"] == "rollback", removed
    result = await running.finish(timeout=180)
    text = result.stdout[-3000:] + result.stderr[-3000:]
    status = injected["details"]["status"]
    assert status["conditions"]["AllInjected"] == "True", status
    assert [r["id"] for r in status["records"]] == [record], status
    (final,) = result.of("RunFinished")
    assert final["verdict"] == "deviated", text
    assert result.rc == 1, text
    return cli


async def no_leftovers(node_testbed: Any, shop: str, cli: Cli) -> None:
    left = pod_chaos(node_testbed, shop)
    assert left == [], json.dumps(left)[:2000]
    recovered = await cli.recover()
    assert recovered.rc == 0 and "nothing to recover" in recovered.stdout, recovered.stdout + recovered.stderr


async def test_pod_kill_breaches_rollback_recovers(node_testbed: Any, shop: str, prom: PrometheusServer,
                                                   pool: str, tmp_path: Path) -> None:
    """PodChaos pod-kill of the pool's one pod: the pool has no live replica (breach), the rollback
    deletes the PodChaos, the Deployment's new pod is scraped up (the SLO holds): ``deviated``."""
    (before,) = pool_pods(node_testbed, shop)
    slo = {"name": "pool-up", "query": pool_query(shop), "objective": {"op": ">=", "value": 1}}
    fault = {"name": "kill-payment", "type": "pod-kill", "selector": {"labels": {"app": pool}}}
    cli = await run_to_verdict(node_testbed, prom, killing("node-pod-kill", shop, prom, fault, slo), tmp_path,
                               record=f"{shop}/{before['metadata']['name']}")
    (now,) = [p for p in pool_pods(node_testbed, shop) if not p["metadata"].get("deletionTimestamp")]
    assert now["metadata"]["uid"] != before["metadata"]["uid"] and pod_ready(now)  # killed, and replaced
    (up,) = query(prom, pool_query(shop))
    assert float(up["value"][1]) >= 1
    await no_leftovers(node_testbed, shop, cli)


async def test_container_kill_breaches_rollback_recovers(node_testbed: Any, shop: str, prom: PrometheusServer,
                                                         tmp_path: Path) -> None:
    """PodChaos container-kill of the payment gateway's container (the daemon, through containerd):
    the orders fail until the kubelet has restarted it (breach), the rollback deletes the PodChaos,
    the payments flow again from the same pod: ``deviated``."""
    with node_testbed.admin() as api:
        before = wait_for(api, f"/api/v1/namespaces/{shop}/pods/payment", pod_ready, "payment Ready", timeout=60)
    until(lambda: float(query(prom, errors_query(shop))[0]["value"][1]) < 1.0, "orders paid before", 60)
    restarts = before["status"]["containerStatuses"][0]["restartCount"]
    slo = {"name": "errors", "query": errors_query(shop), "objective": {"op": "<", "value": 1.0}}
    fault = {"name": "kill-gateway", "type": "container-kill", "selector": {"labels": {"app": "payment-gateway"}},
             "containerNames": ["payment-gateway"]}
    cli = await run_to_verdict(node_testbed, prom, killing("node-container-kill", shop, prom, fault, slo), tmp_path,
                               record=f"{shop}/payment/payment-gateway")
    with node_testbed.admin() as api:
        after = api.get(f"/api/v1/namespaces/{shop}/pods/payment").json()
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # the same pod: its container was restarted
    assert after["status"]["containerStatuses"][0]["restartCount"] > restarts
    (errors,) = query(prom, errors_query(shop))
    assert float(errors["value"][1]) < 1.0
    await no_leftovers(node_testbed, shop, cli)
