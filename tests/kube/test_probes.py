"""The ``kubernetes`` probe against the real API server (the testbed's kube-apiserver and
kube-controller-manager): a Deployment's condition as its controller writes it, ready pods of a
selector, container restarts since the probe started."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from chaos.model.kinds import ProbeContext
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.monitoring import Monitor
from chaos.slo.verdicts import Verdict
from kube.testbed import Testbed


def _slo(**block: Any) -> Slo:
    return Slo.model_validate({"name": "probe", "probe": {"kubernetes": block}})


async def _judge(testbed: Testbed, namespace: str, slo: Slo, monitor: Monitor | None = None) -> Verdict:
    ctx = ProbeContext(environ={}, timeout_s=10.0, kubeconfig=str(testbed.kubeconfig), namespace=namespace)
    if monitor is not None:
        return (await monitor.evaluate_now([slo])).verdicts[0]
    async with Monitor(MonitorSpec(), environ={}, probe_context=ctx) as fresh:
        return (await fresh.evaluate_now([slo])).verdicts[0]


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}}


async def test_deployment_condition_as_its_controller_writes_it(kube_testbed: Testbed) -> None:
    ns = kube_testbed.namespace("probe")
    with kube_testbed.admin() as api:
        api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=_deployment("order", 1)).raise_for_status()
    slo = _slo(kind="Deployment", name="order", condition="Available")
    # no kubelet: the controller says the one replica is unavailable
    deadline = time.monotonic() + 60
    v = await _judge(kube_testbed, ns, slo)
    while "Available=False" not in v.error and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # the deployment controller writes the condition on its own schedule
        v = await _judge(kube_testbed, ns, slo)
    assert v.status == "breached" and "Available=False" in v.error and "MinimumReplicasUnavailable" in v.error
    assert v.query == "probe kubernetes: Deployment order condition Available=True"
    with kube_testbed.admin() as api:
        api.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/order", json={"spec": {"replicas": 0}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    v = await _judge(kube_testbed, ns, slo)
    while v.status != "ok" and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        v = await _judge(kube_testbed, ns, slo)
    assert v.status == "ok"
    missing = await _judge(kube_testbed, ns, _slo(kind="Deployment", name="nowhere", condition="Available"))
    assert missing.status == "breached" and "not found" in missing.error.lower()


async def test_ready_pods_of_a_selector(kube_testbed: Testbed) -> None:
    ns = kube_testbed.namespace("probe")
    kube_testbed.running_pod(ns, "order-1", {"app": "order"})
    kube_testbed.running_pod(ns, "order-2", {"app": "order"})
    kube_testbed.running_pod(ns, "order-3", {"app": "order"}, ready=False)
    kube_testbed.running_pod(ns, "other", {"app": "other"})
    ok = await _judge(kube_testbed, ns, _slo(selector={"app": "order"}, minReady=2))
    assert ok.status == "ok" and ok.series[0].labels["measured"] == "2"
    short = await _judge(kube_testbed, ns, _slo(selector={"app": "order"}, minReady=3))
    assert short.status == "breached" and short.error == "pods app=order: 2 of 3 pod(s) ready, fewer than 3"


async def test_restarts_since_the_probe_started(kube_testbed: Testbed) -> None:
    ns = kube_testbed.namespace("probe")
    pod = kube_testbed.running_pod(ns, "order-1", {"app": "order"})
    slo = _slo(selector={"app": "order"}, maxRestarts=1)
    ctx = ProbeContext(environ={}, timeout_s=10.0, kubeconfig=str(kube_testbed.kubeconfig), namespace=ns)
    from chaos.slo.probing import make_runner

    runner = make_runner(slo, ctx)
    try:
        first = await runner.observe()
        assert first.ok and first.value == 0.0
        with kube_testbed.admin() as api:
            pod = api.get(f"/api/v1/namespaces/{ns}/pods/order-1").json()
            pod["status"]["containerStatuses"] = [{"name": "app", "ready": True, "restartCount": 2, "image": "x",
                                                   "imageID": "", "state": {"running": {}}}]
            api.put(f"/api/v1/namespaces/{ns}/pods/order-1/status", json=pod).raise_for_status()
        after = await runner.observe()
    finally:
        await runner.aclose()
    assert not after.ok and after.value == 2.0
    assert after.detail == "pods app=order: 2 restart(s) since the probe started, more than 1"
