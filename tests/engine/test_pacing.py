"""When the real engine asks Prometheus, around injection: no tick before a scrape that can show the fault.

A real Prometheus scrapes a tiny exporter every second; the run goes through the real engine with a
run-owned fault proxy on loopback; a counting forwarder in front of Prometheus (``harness.forwarder``) records every
request the run sends. ``monitor.interval`` is 5 s, so a tick that comes before it is the scrape-aligned
pacing, not the timer; Prometheus is young (a few samples), so the scrape interval is known only
because the pre-flight's query and the steady-state check saw two consecutive samples. The figures (queries per SLO per scrape interval against Chaos Toolkit) are
in ``docs/benchmarks.md``, measured by ``bench/bench_peers.py``.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.forwarder import Forwarder
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from chaos.demo.prometheus import PrometheusServer, free_port
from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_text

EXPERIMENT = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: paced}
spec:
  target: {type: host}
  faults:
    - name: slow
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:%(port)d", upstream: "127.0.0.1:9"}}
      latency: 10ms
      duration: 3s
  slos:
    - name: level
      query: max(as_pacing_level)
      objective: {op: "<", value: 1}
  steadyState: [level]
  monitor: {prometheus: "%(url)s", interval: 5s}
"""


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    registry = CollectorRegistry()
    Gauge("as_pacing_level", "a level that holds", registry=registry).set(0.5)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with PrometheusServer({"exporter": [f"127.0.0.1:{port}"]}, scrape_interval="1s") as prometheus:
            deadline = time.monotonic() + 30
            while len(scrape_times(prometheus.url, time.time(), 10)) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)  # polling an external process: Prometheus has no event for its first scrape
            yield prometheus
    finally:
        server.shutdown()
        thread.join(5)


def scrape_times(url: str, at: float, window_s: int) -> list[float]:
    data = urllib.parse.urlencode({"query": f"as_pacing_level[{window_s}s]", "time": f"{at:.3f}"}).encode()
    with urllib.request.urlopen(url + "/api/v1/query", data=data, timeout=10) as answer:
        result = json.load(answer)["data"]["result"]
    return sorted(float(t) for series in result for t, _ in series["values"])


async def test_the_first_tick_after_injection_waits_for_a_scrape_after_it(prom: PrometheusServer,
                                                                          tmp_path: Path) -> None:
    recorder = Forwarder(prom.url)
    try:
        loaded = load_text(EXPERIMENT % {"port": free_port(), "url": recorder.url}, "paced.yaml")
        engine = Engine(EngineSettings(state_dir=tmp_path))
        seen: list[ev.RunEvent] = []
        engine.subscribe(seen.append)
        finished = await engine.run(loaded)
    finally:
        recorder.close()
    assert finished.verdict == "passed", finished.reason
    checked = next(e for e in seen if isinstance(e, ev.SteadyStateChecked) and e.phase == "before")
    injected = next(e for e in seen if isinstance(e, ev.FaultInjected))
    ticks = [e for e in seen if isinstance(e, ev.SloSampled)]
    assert ticks, [type(e).__name__ for e in seen]
    scrapes = scrape_times(prom.url, time.time(), 30)
    first_after = min(t for t in scrapes if t > injected.at)
    first = ticks[0].tick.eval_time
    # the first tick evaluates a scrape taken after the fault went live, not the instant of injection
    assert first >= first_after, (first - injected.at, first_after - injected.at)
    assert first < injected.at + 5  # and not on the 5 s timer: on that scrape
    # nothing was asked between the steady-state check and that tick
    assert not [t for t, _, _ in recorder.seen if checked.at + 0.001 < t < first]
