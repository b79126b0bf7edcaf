"""The demo shop on the node and the whole policy loop through the real CLI.

order-service and payment-gateway run as pods of ``localhost/aftershock-demo:dev``
(``python3 -m chaos.demo.services --host 0.0.0.0``), the order pod paying the payment pod by its IP
and driving its own load. Debian's Prometheus runs on the host on a loopback port and finds the pods
through the API server (the testbed's admin certificate and CA; see :class:`PodDiscovery` for why
that is ``http_sd_configs`` and not ``kubernetes_sd_configs``); it scrapes them at their pod IPs (the
host reaches them through the node's ``cni0`` bridge).

Then ``aftershock run`` (subprocess, the testbed's kubeconfig) injects a NetworkChaos partition from
order-service to payment-gateway: the real daemon cuts the traffic, the orders' error rate breaches
in Prometheus, the rollback policy deletes the object, Chaos Mesh recovers, the SLO recovers, and
the verdict is ``deviated`` with nothing left on the cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from k8s_run.conftest import Cli, experiment, in_namespace, write

from chaos.clients.kube import KubeSettings
from chaos.clients.kube.reaper import REAPER_NAME, reaper_manifests
from chaos.demo.prometheus import PrometheusServer

from .conftest import NODE_TIMEOUT, pod_ready, wait_for

DEMO = "localhost/aftershock-demo:dev"
IMAGE = "localhost/aftershock:dev"
RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
pytestmark = [pytest.mark.root, pytest.mark.timeout(NODE_TIMEOUT)]
ORDER_PORT, PAYMENT_PORT = 8080, 8081


def demo_pod(name: str, app: str, port: int, config: dict[str, Any]) -> dict[str, Any]:
    ports = {"payment_port": 8081, "backup_port": 8082, "order_port": 8080, "loadgen_port": 8083}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": app, "image": DEMO, "imagePullPolicy": "Never",
                                     "args": ["--host", "0.0.0.0", "--config", json.dumps({**ports, **config})],
                                     "ports": [{"containerPort": port, "name": "metrics"}],
                                     "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1}}]}}


@pytest.fixture(scope="module")
def shop(node_testbed) -> str:  # type: ignore[no-untyped-def]
    """The shop's namespace, with the reaper installed as an administrator would (in our image,
    grace 0 so a sweep right after a deadline acts)."""
    ns = node_testbed.namespace("shop", reaper=False)
    for doc in reaper_manifests(dataclasses.replace(KubeSettings(), reaper_image=IMAGE, reaper_grace=0), ns):
        node_testbed.apply(doc)
    with node_testbed.admin() as api:
        api.post(f"/api/v1/namespaces/{ns}/pods",
                 json=demo_pod("payment", "payment-gateway", PAYMENT_PORT, {})).raise_for_status()
        payment = wait_for(api, f"/api/v1/namespaces/{ns}/pods/payment", pod_ready, "payment Ready", timeout=180)
        ip = payment["status"]["podIP"]
        api.post(f"/api/v1/namespaces/{ns}/pods", json=demo_pod(
            "order", "order-service", ORDER_PORT,
            {"payment_url": f"http://{ip}:{PAYMENT_PORT}", "load_autostart": True, "load_rate": 20.0,
             "payment_timeout_s": 0.5})).raise_for_status()
        wait_for(api, f"/api/v1/namespaces/{ns}/pods/order", pod_ready, "order Ready", timeout=180)
    return ns


class PodDiscovery(http.server.ThreadingHTTPServer):
    """Prometheus's ``role: pod`` discovery, served as ``http_sd_configs``: Debian's Prometheus
    (2.42.0+ds) is built without Kubernetes discovery (``field kubernetes_sd_configs not found in type
    config.ScrapeConfig``). Each answer lists the namespace's running pods from the API server (the
    testbed's admin certificate and CA), one target per container port named ``metrics`` at the pod
    IP, with the labels the relabelling of a kubernetes_sd job would give."""

    def __init__(self, bed: Any, namespace: str) -> None:
        self.bed, self.namespace = bed, namespace
        super().__init__(("127.0.0.1", 0), _Handler)

    def groups(self) -> list[dict[str, Any]]:
        with self.bed.admin() as api:
            pods = api.get(f"/api/v1/namespaces/{self.namespace}/pods").json()["items"]
        return [{"targets": [f"{p['status']['podIP']}:{port['containerPort']}"],
                 "labels": {"namespace": self.namespace, "pod": p["metadata"]["name"],
                            "app": (p["metadata"].get("labels") or {}).get("app", "")}}
                for p in pods if (p.get("status") or {}).get("phase") == "Running" and p["status"].get("podIP")
                for c in p["spec"]["containers"] for port in c.get("ports") or [] if port.get("name") == "metrics"]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: PodDiscovery

    def do_GET(self) -> None:
        body = json.dumps(self.server.groups()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prom(node_testbed, shop: str) -> Iterator[PrometheusServer]:  # type: ignore[no-untyped-def]
    discovery = PodDiscovery(node_testbed, shop)
    thread = threading.Thread(target=discovery.serve_forever, daemon=True)
    thread.start()
    job = {"job_name": "shop", "http_sd_configs": [
        {"url": f"http://127.0.0.1:{discovery.server_address[1]}/pods", "refresh_interval": "1s"}]}
    try:
        with PrometheusServer(scrape_interval="250ms", scrape_configs=[job]) as server:
            yield server
    finally:
        discovery.shutdown()
        discovery.server_close()
        thread.join(5)


def errors_query(ns: str) -> str:
    return (f'sum(rate(http_requests_total{{namespace="{ns}",app="order-service",code!="200"}}[2s])) '
            "or vector(0)")


def query(prom: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{prom.url}/api/v1/query", params={"query": promql}).json()["data"]["result"])


def until(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll ``check`` (the API server and Prometheus have no event to await here)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.25)


def test_prometheus_scrapes_the_shop_pods(shop: str, prom: PrometheusServer) -> None:
    with httpx.Client(base_url=prom.url) as api:
        wait_for(api, "/api/v1/targets",
                 lambda t: sum(x["health"] == "up" for x in t["data"]["activeTargets"]) == 2,
                 "both pods scraped", timeout=60)
    paid = f'sum(http_requests_total{{namespace="{shop}",app="order-service",code="200"}})'
    until(lambda: bool(query(prom, paid)) and float(query(prom, paid)[0]["value"][1]) > 0, "orders paid", 60)


def partition(shop: str, prom: PrometheusServer, duration: str, policies: list[dict[str, Any]]) -> dict[str, Any]:
    """order-service cut from payment-gateway (NetworkChaos partition), the orders' error rate as SLO."""
    doc = in_namespace(experiment("node-partition", "unused", duration=duration, max_targets=1, mode="all",
                                  recovery="30s", prometheus=prom.url, policies=policies), shop)
    fault = doc["spec"]["faults"][0]
    fault.update({"type": "network-partition"})
    fault.pop("latency")
    doc["spec"]["slos"] = [{"name": "errors", "query": errors_query(shop), "objective": {"op": "<", "value": 1.0}}]
    doc["spec"]["steadyState"] = ["errors"]
    return doc


def network_chaos(node_testbed, shop: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with node_testbed.admin() as api:
        return list(api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos").json()["items"])


async def test_partition_breaches_rollback_recovers(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    test_prometheus_scrapes_the_shop_pods(shop, prom)
    doc = partition(shop, prom, "60s", [{"name": "rollback", "when": {"slo": "errors"}, "action": "rollback"}])
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, doc), "--output", "json"))
    injected = await running.until("FaultInjected", timeout=120)
    assert injected["details"]["status"]["conditions"]["AllInjected"] == "True"
    fired = await running.until("PolicyFired", timeout=120)
    assert fired["policy"] == "rollback" and fired["action"] == "rollback"
    removed = await running.until("FaultRemoved", timeout=120)
    assert removed["reason"] == "rollback"
    result = await running.finish(timeout=180)
    final = result.of("RunFinished")[0]
    assert final["verdict"] == "deviated", result.stdout[-3000:] + result.stderr[-3000:]
    assert result.rc == 1
    left = network_chaos(node_testbed, shop)
    assert left == [], json.dumps(left)[:2000]
    (errors,) = query(prom, errors_query(shop))
    assert float(errors["value"][1]) < 1.0  # the SLO holds again: payments flow after Chaos Mesh recovered
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr


async def test_kill_9_mid_fault_the_reaper_cleans_up(node_testbed, shop: str, prom: PrometheusServer,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    """``aftershock run`` SIGKILLed while its partition is live: the namespace's installed reaper
    (one sweep now, as a Job from its CronJob) deletes the object once its deadline has passed, Chaos
    Mesh recovers (the orders are paid again), and ``aftershock recover`` finds nothing left to do."""
    test_prometheus_scrapes_the_shop_pods(shop, prom)
    cli = Cli(node_testbed.kubeconfig, tmp_path / "state", prom.url, tmp_path)
    running = await cli.start(*cli.run_args(write(tmp_path, partition(shop, prom, "15s", [])), "--output", "json"))
    try:
        await running.until("FaultInjected", timeout=120)
    finally:
        running.proc.kill()
        await running.proc.wait()
    (obj,) = network_chaos(node_testbed, shop)
    deadline = datetime.fromisoformat(obj["metadata"]["annotations"]["aftershock.io/deadline"]
                                      .replace("Z", "+00:00")).timestamp()
    await asyncio.sleep(max(0.0, deadline + 1 - time.time()))  # the deadline is the event the reaper waits for
    assert network_chaos(node_testbed, shop), "Chaos Mesh's duration alone does not delete the object"
    with node_testbed.admin() as api:
        cron = api.get(f"/apis/batch/v1/namespaces/{shop}/cronjobs/aftershock-reaper").json()
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "reaper-after-kill", "namespace": shop, "labels": cron["metadata"]["labels"]},
               "spec": cron["spec"]["jobTemplate"]["spec"]}
        api.post(f"/apis/batch/v1/namespaces/{shop}/jobs", json=job).raise_for_status()
        done = wait_for(api, f"/apis/batch/v1/namespaces/{shop}/jobs/reaper-after-kill",
                        lambda j: any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                      for c in (j.get("status") or {}).get("conditions") or []),
                        "reaper sweep finished", timeout=240)
        # the installed CronJob sweeps every minute too: whichever sweep came first deleted it
        pods = [p for p in api.get(f"/api/v1/namespaces/{shop}/pods").json()["items"]
                if p["spec"].get("serviceAccountName") == REAPER_NAME]
        logs = "".join(api.get(f"/api/v1/namespaces/{shop}/pods/{p['metadata']['name']}/log").text for p in pods)
        assert {c["type"]: c["status"] for c in done["status"]["conditions"]}.get("Complete") == "True", logs
        assert f"deleted networkchaos/{obj['metadata']['name']}" in logs, logs
        assert all(p["spec"]["containers"][0]["image"] == IMAGE for p in pods)
    until(lambda: network_chaos(node_testbed, shop) == [], "Chaos Mesh recovered and dropped its finalizer")
    until(lambda: float(query(prom, errors_query(shop))[0]["value"][1]) < 1.0, "the orders are paid again")
    recovered = await cli.recover()
    assert recovered.rc == 0, recovered.stdout + recovered.stderr
    assert network_chaos(node_testbed, shop) == []
