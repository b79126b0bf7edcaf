"""The testbed with a node (``scripts/kube-testbed up DIR --node``): the real control plane plus one
node that runs real containers (containerd + runc, CNI bridge, kubelet, kube-scheduler, kube-proxy),
the images ``localhost/aftershock:dev`` and ``localhost/aftershock-demo:dev`` imported, and a default
StorageClass whose PVCs bind. Brought up once per pytest session (one node per machine) and taken
down at the end; ``down`` fails when it could not remove a mount, bridge, netns or iptables chain.
The build (``scripts/setup.sh``: ``kube-testbed build --node``, ``node-images build``) happens before
the tests, so no test waits for a compiler.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from k8s_run.conftest import (
    experiment,
    in_namespace,
    metrics,  # noqa: F401  (one real Prometheus per session, a gauge per test)
)
from kube.testbed import SCRIPT, Testbed

from chaos.clients.kube import KubeSettings
from chaos.clients.kube.reaper import reaper_manifests
from chaos.demo.prometheus import PrometheusServer

NODE_TIMEOUT = 600
NODE_IP = "10.244.0.1"
"""The node's bridge address (``NODE_IP`` of scripts/kube-testbed): the host's address that pods reach
(their subnet is on-link there), where the shop's Prometheus listens."""
DEMO = "localhost/aftershock-demo:dev"
IMAGE = "localhost/aftershock:dev"
RESTRICTED = {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
ORDER_PORT, PAYMENT_PORT = 8080, 8081


@pytest.fixture(scope="session")
def node_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    workdir = tmp_path_factory.mktemp("kube-node")
    proc = subprocess.run([sys.executable, str(SCRIPT), "up", str(workdir), "--no-build", "--node"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/kube-testbed up --node failed:\n{proc.stderr[-4000:]}")
    sys.stderr.write(proc.stderr)
    state = json.loads(proc.stdout)
    try:
        yield Testbed(url=state["url"], workdir=Path(state["workdir"]), kubeconfig=Path(state["kubeconfig"]),
                      oracle=Path(state["oracle"]), timings=state["timings"])
    finally:
        down = subprocess.run([sys.executable, str(SCRIPT), "down", str(workdir)], capture_output=True, text=True)
        assert down.returncode == 0, f"kube-testbed down left something behind:\n{down.stderr[-3000:]}"


def wait_for(api: httpx.Client, path: str, ready: Any, what: str, timeout: float = 120) -> dict[str, Any]:
    """GET ``path`` until ``ready(object)`` is true (the API's watch would do; a poll keeps it short)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = api.get(path)
        if reply.status_code == 200:
            last = reply.json()
            if ready(last):
                return last
        time.sleep(0.25)  # the kubelet's status updates reach us through the API only
    raise AssertionError(f"{what} not reached within {timeout}s; last seen: {json.dumps(last)[-2000:]}")


def pod_phase(phases: tuple[str, ...]) -> Any:
    return lambda pod: (pod.get("status") or {}).get("phase") in phases


def pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def demo_pod(name: str, app: str, port: int, config: dict[str, Any]) -> dict[str, Any]:
    ports = {"payment_port": 8081, "backup_port": 8082, "order_port": 8080, "loadgen_port": 8083}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"securityContext": RESTRICTED, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": app, "image": DEMO, "imagePullPolicy": "Never",
                                     "args": ["--host", "0.0.0.0", "--config", json.dumps({**ports, **config})],
                                     "ports": [{"containerPort": port, "name": "metrics"}],
                                     "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1}}]}}


@pytest.fixture(scope="session")
def shop(node_testbed: Testbed) -> str:
    """The demo shop for the session (order-service paying payment-gateway, as pods of the demo
    image): its namespace, with the reaper installed as an administrator would (in our image, grace 0
    so a sweep right after a deadline acts)."""
    ns = node_testbed.namespace("shop", reaper=False)
    for doc in reaper_manifests(dataclasses.replace(KubeSettings(), reaper_image=IMAGE, reaper_grace=0), ns):
        node_testbed.apply(doc)
    with node_testbed.admin() as api:
        api.post(f"/api/v1/namespaces/{ns}/pods",
                 json=demo_pod("payment", "payment-gateway", PAYMENT_PORT, {})).raise_for_status()
        # the order pod needs the payment pod's IP only, which it has once its sandbox is up: both
        # containers then start together
        payment = wait_for(api, f"/api/v1/namespaces/{ns}/pods/payment",
                           lambda p: bool((p.get("status") or {}).get("podIP")), "payment's pod IP", timeout=180)
        ip = payment["status"]["podIP"]
        api.post(f"/api/v1/namespaces/{ns}/pods", json=demo_pod(
            "order", "order-service", ORDER_PORT,
            {"payment_url": f"http://{ip}:{PAYMENT_PORT}", "load_autostart": True, "load_rate": 20.0,
             "payment_timeout_s": 0.5})).raise_for_status()
        wait_for(api, f"/api/v1/namespaces/{ns}/pods/payment", pod_ready, "payment Ready", timeout=180)
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
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # Prometheus stopped while asking
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def prom(node_testbed: Testbed, shop: str) -> Iterator[PrometheusServer]:
    discovery = PodDiscovery(node_testbed, shop)
    thread = threading.Thread(target=discovery.serve_forever, daemon=True)
    thread.start()
    job = {"job_name": "shop", "http_sd_configs": [
        {"url": f"http://127.0.0.1:{discovery.server_address[1]}/pods", "refresh_interval": "1s"}]}
    try:
        with PrometheusServer(scrape_interval="250ms", scrape_configs=[job], host=NODE_IP) as server:
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


def network_chaos(node_testbed: Testbed, shop: str) -> list[dict[str, Any]]:
    with node_testbed.admin() as api:
        return list(api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{shop}/networkchaos").json()["items"])
