"""The degrade policy on the node: a Deployment ``env`` patch (docs/policies.md, ``with.kubernetes``)
applied by ``aftershock run`` when the orders' error rate breaches under a real Chaos Mesh partition
(the session's shop), seen by the pods — the Deployment rolls out and the new pod's process has the
value (read with exec) — and taken back: at the end of the run, and by ``aftershock recover`` from the
run's undo record after ``kill -9`` (the pods then run with the value they had before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from k8s_run.conftest import Cli, write
from kubernetes import client, config
from kubernetes.stream import stream

from chaos.demo.prometheus import PrometheusServer

from .conftest import IMAGE, NODE_TIMEOUT, RESTRICTED, network_chaos, partition, pod_ready, wait_for

pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]
FLAGS = "payment-flags"


@pytest.fixture(scope="module")
def flags(node_testbed, shop: str) -> str:  # type: ignore[no-untyped-def]
    """A Deployment of the shop whose container reads ``PAYMENT_CHANNEL`` (primary)."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": FLAGS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": FLAGS}},
                 "template": {"metadata": {"labels": {"app": FLAGS}}, "spec": {
                     "securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "flags", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"],
                                     "env": [{"name": "PAYMENT_CHANNEL", "value": "primary"}]}]}}}}
    with node_testbed.admin() as api:
        api.post(f"/apis/apps/v1/namespaces/{shop}/deployments", json=deployment).raise_for_status()
    assert seen_by_the_pod(node_testbed, shop) == "primary"
    return FLAGS


def rolled_out(deployment: dict[str, Any]) -> bool:
    status = deployment.get("status") or {}
    return (status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == 1 and status.get("readyReplicas") == 1
            and status.get("replicas") == 1)


def seen_by_the_pod(node_testbed, shop: str) -> str:  # type: ignore[no-untyped-def]
    """Once the Deployment's latest template runs (one Ready pod, no other left): PAYMENT_CHANNEL as
    that pod's process sees it."""
    with node_testbed.admin() as api:
        wait_for(api, f"/apis/apps/v1/namespaces/{shop}/deployments/{FLAGS}", rolled_out, "rolled out", timeout=180)
        wait_for(api, f"/api/v1/namespaces/{shop}/pods?labelSelector=app%3D{FLAGS}",
                 lambda pods: len(pods["items"]) == 1 and pod_ready(pods["items"][0]), "one pod left", timeout=120)
        (pod,) = api.get(f"/api/v1/namespaces/{shop}/pods", params={"labelSelector": f"app={FLAGS}"}).json()["items"]
    core = client.CoreV1Api(config.new_client_from_config(str(node_testbed.kubeconfig)))
    out = stream(core.connect_get_namespaced_pod_exec, pod["metadata"]["name"], shop, container="flags",
                 command=["printenv", "PAYMENT_CHANNEL"], stderr=True, stdin=False, stdout=True, tty=False)
    return str(out).strip()


def deployment(node_testbed, shop: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with node_testbed.admin() as api:
        return dict(api.get(f"/apis/apps/v1/namespaces/{shop}/deployments/{FLAGS}").json())


def env_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"][0]["env"])


def undo_annotations(obj: dict[str, Any]) -> list[str]:
    return [k for k in (obj["metadata"].get("annotations") or {}) if k.startswith("undo.aftershock.io/")]


def degrading(shop: str, prom: PrometheusServer, duration: str) -> dict[str, Any]:
    return partition(shop, prom, duration, [{
        "name": "backup-channel", "when": {"slo": "errors"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "Deployment", "name": FLAGS, "container": "flags",
                                          "env": {"PAYMENT_CHANNEL": "backup"}}}}}])


async def test_the_pods_see_the_degrade_and_its_revert(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                       flags: str, tmp_path: Path) -> None:
    before = env_of(deployment(node_testbed, shop))
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, degrading(shop, prom, "20s")), "--output", "json"))
    applied = await running.until("ActionApplied", timeout=120)
    assert applied["action"] == "degrade", applied
    assert seen_by_the_pod(node_testbed, shop) == "backup"
    reverted = await running.until("Reverted", timeout=120)
    result = await running.finish(timeout=180)
    text = result.stdout[-3000:] + result.stderr[-3000:]
    (final,) = result.of("RunFinished")
    assert final["verdict"] == "deviated", text
    assert reverted, text
    now = deployment(node_testbed, shop)
    assert env_of(now) == before and undo_annotations(now) == [], json.dumps(now["metadata"])
    assert seen_by_the_pod(node_testbed, shop) == "primary"
    assert network_chaos(node_testbed, shop) == []
    recovered = await cli.recover()
    assert recovered.rc == 0 and "nothing to recover" in recovered.stdout, recovered.stdout + recovered.stderr


async def test_kill_9_after_the_degrade_recover_reverts_it(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                           flags: str, tmp_path: Path) -> None:
    before = env_of(deployment(node_testbed, shop))
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, degrading(shop, prom, "5m")), "--output", "json"))
    try:
        await running.until("ActionApplied", timeout=120)
    finally:
        running.proc.kill()
        await running.proc.wait()
    degraded = deployment(node_testbed, shop)
    assert {"name": "PAYMENT_CHANNEL", "value": "backup"} in env_of(degraded)
    assert len(undo_annotations(degraded)) == 1  # the patch carried its own undo record
    assert seen_by_the_pod(node_testbed, shop) == "backup"
    assert len(network_chaos(node_testbed, shop)) == 1
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr
    now = deployment(node_testbed, shop)
    assert env_of(now) == before and undo_annotations(now) == [], json.dumps(now["metadata"])
    assert seen_by_the_pod(node_testbed, shop) == "primary"
    assert network_chaos(node_testbed, shop) == []
    again = await cli.recover()
    assert again.rc == 0 and "nothing to recover" in again.stdout, again.stdout + again.stderr
