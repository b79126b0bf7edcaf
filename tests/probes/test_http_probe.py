"""The ``http`` probe against a real HTTP server on loopback, alone and inside the monitor: each
result is one evaluation, so "3 consecutive timeouts" is exactly three failed requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chaos.loading import load_text
from chaos.model.kinds import ProbeContext
from chaos.model.slos import MonitorSpec, Slo
from chaos.policy.decisions import Decider, DeciderConfig
from chaos.slo.monitoring import Monitor
from chaos.slo.verdicts import Tick

from .server import Backend


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    async with Backend() as b:
        yield b


def probe_slo(url: str, **http: Any) -> Slo:
    return Slo.model_validate({"name": "payment-probe", "probe": {"http": {"url": url, "timeout": "300ms", **http},
                                                                  "interval": "50ms"}})


async def once(slo: Slo, environ: dict[str, str] | None = None) -> Any:
    async with Monitor(MonitorSpec(), environ=environ or {}) as monitor:
        return (await monitor.evaluate_now([slo])).get(slo.name)


async def test_holds_on_the_expected_status(backend: Backend) -> None:
    v = await once(probe_slo(backend.url("/health")))
    assert v.status == "ok" and v.value == 1.0
    assert v.query == f"probe http: GET {backend.url('/health')} expects 200 within 300ms"


async def test_wrong_status_timeout_refused_and_body_are_failures(backend: Backend) -> None:
    backend.status = 503
    v = await once(probe_slo(backend.url("/health")))
    assert (v.status, v.value, v.error) == ("breached", 0.0, "status 503 (expected 200)")
    backend.status, backend.delay = 200, 1.0
    v = await once(probe_slo(backend.url("/health")))
    assert (v.status, v.error) == ("breached", "timeout after 300ms")
    v = await once(probe_slo(backend.closed_url()))
    assert v.status == "breached" and "ClientConnectorError" in v.error
    backend.delay = 0.0
    assert (await once(probe_slo(backend.url("/health"), expectBody="healthy"))).status == "ok"
    v = await once(probe_slo(backend.url("/health"), expectBody="^degraded"))
    assert v.status == "breached" and "does not match" in v.error
    assert (await once(probe_slo(backend.url("/health"), expectStatus=[204, 503]))).status == "breached"


async def test_secret_headers_are_sent_but_never_shown(backend: Backend) -> None:
    text = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: probe-secret}
spec:
  target: {type: host}
  faults: [{name: d, type: network-delay, selector: {proxy: {listen: "127.0.0.1:18097", upstream: "127.0.0.1:9"}},
            latency: 1s, duration: 10s}]
  slos:
    - name: payment-probe
      probe: {http: {url: "URL", headers: {Authorization: "Bearer {{ env.PROBE_TOKEN }}"}}}
""".replace("URL", backend.url("/private"))
    loaded = load_text(text, source="probe.yaml", environ={"PROBE_TOKEN": "s3cr3t-token-value"})
    slo = loaded.experiment.spec.slos[0]
    assert "s3cr3t" not in repr(slo) and "s3cr3t" not in slo.model_dump_json()
    v = await once(slo)
    assert v.status == "ok" and backend.seen_auth[-1] == "Bearer s3cr3t-token-value"
    assert "s3cr3t" not in str(v.as_dict())


async def test_each_result_is_one_evaluation_and_three_timeouts_trip(backend: Backend) -> None:
    """Probes every 50 ms, ticks only when woken by a result: the verdicts carry every result once."""
    slo = probe_slo(backend.url("/health"))
    policy = {"name": "isolate-gateway", "when": {"slo": "payment-probe", "consecutive": 3},
              "action": "circuit-break", "with": {"service": "payment-gateway", "weight": 0}}
    from pydantic import TypeAdapter

    from chaos.model.policies import Policy

    decider = Decider(DeciderConfig.build([TypeAdapter(Policy).validate_python(policy)], slos=[slo]))
    woke = asyncio.Event()
    async with Monitor(MonitorSpec(), environ={}, probe_context=ProbeContext(environ={}, timeout_s=1.0)) as monitor:
        monitor.add("run", [slo], on_result=woke.set)
        ticks: list[Tick] = []

        async def tick_on_result() -> Tick:
            await asyncio.wait_for(woke.wait(), 5)
            woke.clear()
            t = (await monitor.tick(time.time(), probes_only=True))["run"]
            ticks.append(t)
            return t

        for _ in range(3):  # healthy
            assert (await tick_on_result()).get("payment-probe").status == "ok"  # type: ignore[union-attr]
        backend.delay = 1.0  # every request now times out (300 ms)
        trips: list[str] = []
        while not trips:
            t = await tick_on_result()
            trips = [d.id for d in decider.on_tick(t).decisions]
            if len(ticks) > 40:
                raise AssertionError("the breaker never tripped")
        failing = [t.get("payment-probe") for t in ticks[3:]]
    assert [v.consecutive for v in failing if v is not None][-1] == 3  # type: ignore[union-attr]
    assert all(v is not None and v.error == "timeout after 300ms" for v in failing)
    assert trips == ["isolate-gateway#1"]
    assert [v.samples for v in failing if v is not None] == sorted({v.samples for v in failing if v is not None})


def test_chaos_toolkit_probe_holds_runs_the_probe_once() -> None:
    """The extension's ``probe_holds`` (what an exported probe SLO becomes in Chaos Toolkit)."""
    import http.server
    import threading

    from chaos.demo.prometheus import free_port
    from chaos.interop.ctk_probes import probe_holds

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert probe_holds({"http": {"url": f"{url}/health"}}) is True
        assert probe_holds({"http": {"url": f"{url}/broken"}}) is False
        assert probe_holds({"http": {"url": f"http://127.0.0.1:{free_port()}/health"}}) is False
    finally:
        server.shutdown()
        server.server_close()
