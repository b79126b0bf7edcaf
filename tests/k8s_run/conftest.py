"""Fixtures for driving ``aftershock run``/``recover`` and the Engine against the real API server.

* ``kube_testbed`` is the session's real control plane (:mod:`kube.testbed`); ``ns`` a fresh namespace
  of it seeded with order-service and payment-gateway pods; ``standin`` plays the Chaos Mesh
  controller's bookkeeping (:mod:`kube.standin`); ``api_proxy`` is Aftershock's fault proxy in front
  of the API server (:mod:`kube.apiproxy`), served in the test's event loop, so the CLI runs as an
  asyncio subprocess and the loop keeps serving it.
* ``metrics`` is one real Prometheus per session (``chaos.demo.prometheus.PrometheusServer``)
  scraping a tiny ``prometheus_client`` exporter on loopback every 250 ms. Each test owns one series
  (label ``series`` = the test's name) and sets its value; :meth:`Metrics.settle` waits until
  Prometheus answers that value, so SLOs see real data and no PromQL is mocked.
* ``cli`` runs the real console script with ``--kubeconfig``/``--state-dir``/``--prometheus``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kube.apiproxy import api_proxy  # noqa: F401  (the fault proxy in front of the real API server)
from kube.realshop import shop_namespace
from kube.standin import standin  # noqa: F401  (the Chaos Mesh controller's bookkeeping)
from kube.testbed import Testbed, kube_testbed  # noqa: F401  (the real control plane, session-wide)
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from chaos.demo.prometheus import PrometheusServer, free_port

METRIC = "aftershock_k8s_run_value"
CLI = Path(sys.executable).with_name("aftershock")
GOOD, BAD = 0.1, 5.0


@dataclass
class Metrics:
    """The live exporter's gauge and the Prometheus scraping it."""

    prom: PrometheusServer
    gauge: Gauge

    @property
    def url(self) -> str:
        return self.prom.url

    @staticmethod
    def query(series: str) -> str:
        return f'max({METRIC}{{series="{series}"}})'

    def set(self, series: str, value: float) -> None:
        self.gauge.labels(series=series).set(value)

    async def settle(self, series: str, value: float, timeout: float = 15.0) -> None:
        """Set the value and wait until Prometheus has scraped it (bounded)."""
        self.set(series, value)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while True:
                reply = await client.get("/api/v1/query", params={"query": self.query(series)})
                result = reply.json()["data"]["result"]
                if result and float(result[0]["value"][1]) == value:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"Prometheus never reported {series}={value}: {result}")
                await asyncio.sleep(0.1)  # polling Prometheus: there is no event to await


@pytest.fixture(scope="session")
def metrics() -> Iterator[Metrics]:
    registry = CollectorRegistry()
    gauge = Gauge(METRIC, "value the SLOs of tests/k8s_run watch", ["series"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with PrometheusServer({"exporter": [f"127.0.0.1:{port}"]}, scrape_interval="250ms") as prom:
            yield Metrics(prom, gauge)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
async def series(request: pytest.FixtureRequest, metrics: Metrics) -> str:
    """This test's series, holding a good value that Prometheus already has."""
    name = request.node.name.replace("[", "_").replace("]", "")
    await metrics.settle(name, GOOD)
    return name


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:  # noqa: F811
    """A fresh namespace: order-0..3 (app=order-service), payment-0..1 (app=payment-gateway)."""
    return shop_namespace(kube_testbed, "run")


def experiment(name: str, series: str, *, duration: str = "2s", max_targets: int | None = 2,
               policies: list[dict[str, Any]] | None = None, mode: str = "one",
               recovery: str = "15s", prometheus: str = "http://127.0.0.1:1") -> dict[str, Any]:
    """A kubernetes experiment: 100 ms delay from order-service to payment-gateway, one SLO."""
    blast: dict[str, Any] = {"namespaces": ["shop"]}
    if max_targets is not None:
        blast["maxTargets"] = max_targets
    return {
        "apiVersion": "aftershock/v1alpha1", "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "target": {"type": "kubernetes", "namespace": "shop"},
            "blastRadius": blast,
            "faults": [{"name": "payment-delay", "type": "network-delay",
                        "selector": {"labels": {"app": "order-service"}}, "mode": mode,
                        "latency": "100ms", "direction": "to",
                        "peer": {"labels": {"app": "payment-gateway"}}, "duration": duration}],
            "slos": [{"name": "latency", "query": Metrics.query(series),
                      "objective": {"op": "<", "value": 1.0}}],
            "steadyState": ["latency"],
            "policies": policies or [],
            "monitor": {"prometheus": prometheus, "interval": "250ms", "errorTolerance": 3},
            "recovery": {"timeout": recovery},
        },
    }


def in_namespace(doc: dict[str, Any], ns: str) -> dict[str, Any]:
    """Move an :func:`experiment` into namespace ``ns`` (target and blast radius)."""
    doc["spec"]["target"]["namespace"] = ns
    doc["spec"]["blastRadius"]["namespaces"] = [ns]
    return doc


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == kind]

    def kinds(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@dataclass
class Running:
    """A CLI subprocess whose NDJSON stdout is read event by event."""

    proc: asyncio.subprocess.Process
    stderr_path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    async def until(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """Read stdout until an event of ``kind`` arrives (or fail when the process ends first)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"no {kind} event before the process ended; events "
                                         f"{[e['event'] for e in self.events]}; stderr "
                                         f"{self.stderr_path.read_text()[-2000:]}")
                line = raw.decode()
                self.lines.append(line)
                if line.startswith("{"):
                    event = json.loads(line)
                    self.events.append(event)
                    if event.get("event") == kind:
                        return event

    async def finish(self, timeout: float = 60.0) -> Result:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            rest = (await self.proc.stdout.read()).decode()
            rc = await self.proc.wait()
        stdout = "".join(self.lines) + rest
        return Result(rc, stdout, self.stderr_path.read_text(), _events(stdout))


@dataclass
class Cli:
    """The ``aftershock`` console script, pointed at a kubeconfig, the state dir and Prometheus."""

    kubeconfig: Path
    state_dir: Path
    prometheus: str
    workdir: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "AFTERSHOCK_STATE_DIR", "AFTERSHOCK_PROMETHEUS_URL")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run_args(self, file: Path, *extra: str) -> list[str]:
        return ["run", str(file), "--kubeconfig", str(self.kubeconfig), "--state-dir", str(self.state_dir),
                "--prometheus", self.prometheus, "--yes", *extra]

    async def start(self, *args: str) -> Running:
        stderr_path = self.workdir / f"stderr-{time.monotonic_ns()}.txt"
        with stderr_path.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                str(CLI), *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=err, env=self.env(), cwd=self.workdir)
        return Running(proc, stderr_path)

    async def __call__(self, *args: str, timeout: float = 60.0) -> Result:
        running = await self.start(*args)
        try:
            return await running.finish(timeout)
        except TimeoutError:
            running.proc.kill()
            await running.proc.wait()
            raise

    async def run(self, file: Path, *extra: str, timeout: float = 60.0) -> Result:
        return await self(*self.run_args(file, *extra), timeout=timeout)

    async def recover(self, *extra: str, timeout: float = 60.0) -> Result:
        return await self("recover", "--state-dir", str(self.state_dir), *extra, timeout=timeout)


@pytest.fixture
def cli(kube_testbed: Testbed, tmp_path: Path, metrics: Metrics) -> Cli:  # noqa: F811
    """The CLI as the testbed's admin, talking to the real API server directly."""
    return Cli(kube_testbed.kubeconfig, tmp_path / "state", metrics.url, tmp_path)



async def kill_after(cli: Cli, file: Path, metrics: Metrics, series: str, event: str) -> Running:
    """Run ``file``, turn the SLO bad once the fault is injected, SIGKILL the run at ``event`` (a policy's
    action applied, say); the SLO is good again afterwards. Returns the killed run (its events)."""
    running = await cli.start(*cli.run_args(file, "--output", "json"))
    try:
        await running.until("FaultInjected")
        metrics.set(series, BAD)
        await running.until(event)
    finally:
        running.proc.kill()
        await running.proc.wait()
    metrics.set(series, GOOD)
    return running
