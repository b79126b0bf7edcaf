"""Chaos Mesh for real on the node: Aftershock's client creates the objects, Chaos Mesh's own
admission webhooks, controller and daemon act on the node's containers, and Aftershock reads the
outcome from the objects' status.

- PodChaos pod-kill: the pod is replaced (new UID);
- PodChaos container-kill: the container restarts (the daemon, through containerd);
- NetworkChaos partition: the daemon's iptables/ipset rules in the pod's netns cut traffic to the
  payment gateway, removal restores it (checked from inside the pod, with exec);
- NetworkChaos bandwidth: tc tbf, injected and recovered;
- NetworkChaos delay needs netem, which this kernel lacks: Chaos Mesh reports the failure and
  Aftershock's wait raises with Chaos Mesh's reason; its records show nothing was injected, so the
  removal asks Chaos Mesh to drop its finalizer (``cleanFinalizer: forced``) and nothing is left.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from k8s_run.conftest import GOOD, Cli, Metrics, experiment, in_namespace, write
from kubernetes import client, config
from kubernetes.stream import stream

from chaos.clients.kube import KubeClient, KubeSettings
from chaos.errors import TargetError

from .conftest import NODE_TIMEOUT, pod_ready, wait_for

IMAGE = "localhost/aftershock:dev"
RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]
CALL = ("import sys, urllib.request\n"
        "url = sys.argv[1]\n"
        "try:\n    print(urllib.request.urlopen(url, timeout=3).status)\n"
        "except OSError as exc:\n    print('unreachable', type(exc).__name__)\n")


def labels(run_id: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id}


def network(ns: str, run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
            "metadata": {"name": f"net-{uuid.uuid4().hex[:6]}", "namespace": ns, "labels": labels(run_id)},
            "spec": {"mode": "all", "duration": "5m",
                     "selector": {"namespaces": [ns], "labelSelectors": {"app": "order-service"}}, **spec}}


def pod_chaos(ns: str, run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
            "metadata": {"name": f"pod-{uuid.uuid4().hex[:6]}", "namespace": ns, "labels": labels(run_id)},
            "spec": {"mode": "one", "selector": {"namespaces": [ns], "labelSelectors": {"app": "payment-gateway"}},
                     **spec}}


@pytest.fixture(scope="module")
def shop(node_testbed) -> str:
    """payment-gateway (a Deployment of the aftershock image serving HTTP, one replica, behind a
    Service) and an order-service pod that calls it."""
    ns = node_testbed.namespace("cm")
    pod_spec = {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "payment", "image": IMAGE, "imagePullPolicy": "Never",
                                "command": ["python3", "-m", "http.server", "8081"], "workingDir": "/opt/aftershock",
                                "ports": [{"containerPort": 8081}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": 8081}, "periodSeconds": 1}}]}
    with node_testbed.admin() as api:
        for path, obj in (
                (f"/apis/apps/v1/namespaces/{ns}/deployments", {
                    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "payment-gateway"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "payment-gateway"}},
                             "template": {"metadata": {"labels": {"app": "payment-gateway"}}, "spec": pod_spec}}}),
                (f"/api/v1/namespaces/{ns}/services", {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "payment-gateway"},
                    "spec": {"selector": {"app": "payment-gateway"}, "ports": [{"port": 80, "targetPort": 8081}]}}),
                (f"/api/v1/namespaces/{ns}/pods", {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "order", "labels": {"app": "order-service"}},
                    "spec": {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "order", "image": IMAGE, "imagePullPolicy": "Never",
                                             "command": ["sleep", "3600"]}]}})):
            reply = api.post(path, json=obj)
            assert reply.status_code == 201, reply.text
        wait_for(api, f"/api/v1/namespaces/{ns}/pods/order", pod_ready, "order Ready", timeout=180)
        wait_for(api, f"/apis/apps/v1/namespaces/{ns}/deployments/payment-gateway",
                 lambda d: (d.get("status") or {}).get("readyReplicas") == 1, "payment-gateway ready", timeout=180)
    return ns


@pytest.fixture
async def target(node_testbed, shop: str) -> AsyncIterator[KubeClient]:
    settings = KubeSettings(kubeconfig=str(node_testbed.kubeconfig), namespace=shop, reaper=False)
    async with KubeClient.from_settings(settings) as t:
        yield t


def call_payment(node_testbed, ns: str, via_service: bool = False) -> str:
    """From the order pod to the payment pod's IP, or (``via_service``) to its Service's ClusterIP."""
    if via_service:
        with node_testbed.admin() as api:
            ip = api.get(f"/api/v1/namespaces/{ns}/services/payment-gateway").json()["spec"]["clusterIP"]
        url = f"http://{ip}:80/"
    else:
        (pod,) = [p for p in payment_pods(node_testbed, ns) if not p["metadata"].get("deletionTimestamp")]
        url = f"http://{pod['status']['podIP']}:8081/"
    core = client.CoreV1Api(config.new_client_from_config(str(node_testbed.kubeconfig)))
    out = stream(core.connect_get_namespaced_pod_exec, "order", ns, container="order",
                 command=["python3", "-c", CALL, url], stderr=True, stdin=False, stdout=True, tty=False)
    return str(out).strip()


def payment_pods(node_testbed, ns: str) -> list[dict[str, Any]]:
    with node_testbed.admin() as api:
        return list(api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": "app=payment-gateway"})
                    .json()["items"])


async def test_partition_cuts_traffic_and_recovers(node_testbed, shop: str, target: KubeClient) -> None:
    """The pod-IP path is cut. The ClusterIP path is not, here: Chaos Mesh's rules match pod IPs —
    an OUTPUT drop in the source pod's netns (which sees the ClusterIP, translated later on the
    node) and an INPUT drop of the source pods' IPs in the target pod's netns (which sees the node's
    address: the testbed's kube-proxy masquerades all Service traffic, ``masqueradeAll``)."""
    assert call_payment(node_testbed, shop) == "200"
    deadline = time.monotonic() + 60  # the Service's rules appear when kube-proxy next syncs
    while call_payment(node_testbed, shop, via_service=True) != "200":
        assert time.monotonic() < deadline, "the Service never answered before the fault"
        time.sleep(0.5)
    obj = network(shop, "cm-part", {"action": "partition", "direction": "to",
                                    "target": {"mode": "all", "selector": {"namespaces": [shop],
                                               "labelSelectors": {"app": "payment-gateway"}}}})
    await target.create(obj)
    report = await target.wait_injected(obj, timeout=90)
    assert report["records"] and all(r["phase"] == "Injected" for r in report["records"])
    assert call_payment(node_testbed, shop).startswith("unreachable")
    (payment,) = [p for p in payment_pods(node_testbed, shop) if not p["metadata"].get("deletionTimestamp")]
    with node_testbed.admin() as api:  # the target pod's side of the partition: INPUT from the source pods
        pnc = api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/podnetworkchaos/"
                      f"{payment['metadata']['name']}").json()
    chains = {c["direction"] for c in pnc["spec"].get("iptables") or [] if c.get("source") == f"{shop}/{obj['metadata']['name']}"}
    assert chains == {"input"}, pnc["spec"]
    assert call_payment(node_testbed, shop, via_service=True) == "200"  # SNATed to the node's address: not cut
    deleted = await target.delete(obj)
    assert deleted.gone
    assert call_payment(node_testbed, shop) == "200"


async def test_bandwidth_injects_and_recovers(node_testbed, shop: str, target: KubeClient) -> None:
    obj = network(shop, "cm-bw", {"action": "bandwidth", "direction": "to",
                                  "bandwidth": {"rate": "1mbps", "limit": 20971520, "buffer": 10000}})
    await target.create(obj)
    report = await target.wait_injected(obj, timeout=90)
    assert all(r["phase"] == "Injected" for r in report["records"])
    assert (await target.delete(obj)).gone
    assert call_payment(node_testbed, shop) == "200"


async def test_pod_kill_replaces_the_pod(node_testbed, shop: str, target: KubeClient) -> None:
    (before,) = payment_pods(node_testbed, shop)
    obj = pod_chaos(shop, "cm-kill", {"action": "pod-kill"})
    await target.create(obj)
    await target.wait_injected(obj, timeout=90)
    with node_testbed.admin() as api:  # killed: gone, or on its way out
        gone = api.get(f"/api/v1/namespaces/{shop}/pods/{before['metadata']['name']}")
        assert gone.status_code == 404 or gone.json()["metadata"]["uid"] != before["metadata"]["uid"] \
            or gone.json()["metadata"].get("deletionTimestamp")
        wait_for(api, f"/apis/apps/v1/namespaces/{shop}/deployments/payment-gateway",
                 lambda d: (d.get("status") or {}).get("readyReplicas") == 1, "a new payment pod", timeout=180)
    assert (await target.delete(obj)).gone
    assert call_payment(node_testbed, shop) == "200"


async def test_container_kill_restarts_the_container(node_testbed, shop: str, target: KubeClient) -> None:
    with node_testbed.admin() as api:
        wait_for(api, f"/apis/apps/v1/namespaces/{shop}/deployments/payment-gateway",
                 lambda d: (d.get("status") or {}).get("readyReplicas") == 1, "payment ready", timeout=180)
    (before,) = [p for p in payment_pods(node_testbed, shop) if not p["metadata"].get("deletionTimestamp")]
    restarts = before["status"]["containerStatuses"][0]["restartCount"]
    obj = pod_chaos(shop, "cm-ck", {"action": "container-kill", "containerNames": ["payment"]})
    await target.create(obj)
    await target.wait_injected(obj, timeout=90)
    with node_testbed.admin() as api:
        pod = wait_for(api, f"/api/v1/namespaces/{shop}/pods/{before['metadata']['name']}",
                       lambda p: p["status"]["containerStatuses"][0]["restartCount"] > restarts,
                       "container restarted", timeout=120)
    assert pod["metadata"]["uid"] == before["metadata"]["uid"]
    assert (await target.delete(obj)).gone


async def test_netem_delay_fails_with_chaos_meshs_reason(node_testbed, shop: str, target: KubeClient) -> None:
    """No netem in this kernel: the daemon's `tc qdisc add ... netem` fails, Chaos Mesh records the
    failed Apply, and Aftershock's wait raises with Chaos Mesh's reason in words. Chaos Mesh would then
    retry the Apply forever and hold its `chaos-mesh/records` finalizer; its records show nothing was
    injected, so the removal sets Chaos Mesh's `cleanFinalizer: forced` annotation: the object is gone
    (404), the pod's PodNetworkChaos keeps none of its entries, and traffic flows."""
    obj = network(shop, "cm-delay", {"action": "delay", "delay": {"latency": "200ms"}})
    name = obj["metadata"]["name"]
    await target.create(obj)
    with pytest.raises(TargetError) as failed:
        await target.wait_injected(obj, timeout=30)
    message = str(failed.value)
    assert f"{shop}/{name} was not injected" in message
    assert "unable to set tcs for pod order" in message  # Chaos Mesh's own words, from the record's events
    report = await target.delete(obj)
    assert report.gone and report.forced
    assert report.cleared == [f"{shop}/order"]
    with node_testbed.admin() as api:
        assert api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos/{name}").status_code == 404
        pnc = api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/podnetworkchaos/order")
        if pnc.status_code == 200:
            spec = pnc.json().get("spec") or {}
            assert not [e for k in ("ipsets", "iptables", "tcs") for e in spec.get(k) or []
                        if e.get("source") == f"{shop}/{name}"], spec
    assert call_payment(node_testbed, shop) == "200"


async def test_an_injected_object_keeps_its_finalizer_reported(node_testbed, shop: str,
                                                               target: KubeClient) -> None:
    """The forced clean is for never-injected objects only: an injected one is recovered by Chaos Mesh
    as before (its finalizer is never forced away by us)."""
    obj = network(shop, "cm-bw2", {"action": "bandwidth", "direction": "to",
                                   "bandwidth": {"rate": "1mbps", "limit": 20971520, "buffer": 10000}})
    await target.create(obj)
    await target.wait_injected(obj, timeout=90)
    report = await target.delete(obj)
    assert report.gone and not report.forced


async def test_a_run_whose_fault_cannot_inject_ends_error_and_leaves_nothing(
        node_testbed, shop: str, metrics: Metrics, tmp_path: Path) -> None:
    """The real CLI on the node: a network-delay fault (netem, absent here) is created, Chaos Mesh
    fails to inject it, the run ends ``error`` with Chaos Mesh's reason in words, and no chaos object
    of the run is left (Chaos Mesh dropped its finalizer itself after the forced clean)."""
    series = "node_netem_run"
    await metrics.settle(series, GOOD)
    doc = in_namespace(experiment("node-netem", series, duration="10s"), shop)
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", metrics.url, tmp_path)
    result = await cli.run(write(tmp_path, doc), "--output", "json", timeout=180)
    text = result.stdout + result.stderr
    (final,) = result.of("RunFinished")
    assert final["verdict"] == "error", text
    assert result.rc != 0
    assert "unable to set tcs for pod order" in text, text  # Chaos Mesh's own reason, in the run's words
    with node_testbed.admin() as api:
        left = api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos",
                       params={"labelSelector": "app.kubernetes.io/managed-by=aftershock"}).json()["items"]
        assert left == [], json.dumps(left)[:2000]
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr
    assert call_payment(node_testbed, shop) == "200"
