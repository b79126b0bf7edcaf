"""Breach detection and start-up: Aftershock against the real Chaos Toolkit CLI, same stack, one run.

Callers: humans (figures in ``docs/benchmarks.md``, "Breach detection against Chaos Toolkit"). A
script, not a test. One demo stack (``chaos.demo.stack.DemoStack``: order-service → fault proxy →
payment gateway, load at 25 req/s) and one Prometheus scraping it every second; the same 500 ms
latency fault through the proxy; contenders run one after the other, alternating, ``--rounds`` times:

- ``aftershock run experiments/demo-payment-latency.yaml`` as shipped (``for: 0s``, ``interval: 1s``,
  scrape-aligned monitor), and with the previous demo settings (``for: 1s``, ``interval: 500ms``);
- ``chaos run --rollback-strategy always`` (Chaos Toolkit 1.19) with a chaostoolkit-addons safeguard
  probing the same SLO every 0.5 s and every 0.1 s (its best honest settings), the same steady-state
  check before the fault, the fault injected and removed through the proxy's admin API.

Measured the same way for every contender, from outside:

- **breach → fault removed**: the first scrape at which the SLO expression violates its objective
  (the SLO re-evaluated afterwards at each scrape timestamp) to the moment the fault is gone from the
  proxy (its admin API polled every 5 ms);
- **launch → fault injected**: process start to the fault being present in the proxy;
- **Prometheus requests/s** while the fault is live and over the whole run, launch to exit (a counting
  forwarder in front of Prometheus).

    .venv/bin/python bench/bench_peers.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chaos.demo.prometheus import PrometheusServer  # noqa: E402
from chaos.demo.stack import DemoStack  # noqa: E402

BIN = Path(sys.executable).parent
SLO_QUERY = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="order"}[5s])))'
SAMPLES = 'http_request_duration_seconds_count{service="order"}'
THRESHOLD = 0.3


class Counting:
    """An HTTP forwarder in front of Prometheus that timestamps every request it forwards."""

    def __init__(self, target: str) -> None:
        self.times: list[float] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def _forward(self, data: bytes | None) -> None:
                if self.path.startswith("/api/v1/query"):
                    owner.times.append(time.time())
                request = urllib.request.Request(target + self.path, data=data)
                if data is not None:
                    request.add_header("Content-Type", "application/x-www-form-urlencoded")
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, body = answer.status, answer.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in self.times if start <= t <= end)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultWatch:
    """Polls the proxy's ``GET /faults`` every 5 ms: when a fault appeared and when it was gone."""

    def __init__(self, admin: str, token: str) -> None:
        self.request = urllib.request.Request(admin + "/faults", headers={"Authorization": f"Bearer {token}"})
        self.present: float | None = None
        self.gone: float | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with urllib.request.urlopen(self.request, timeout=5) as answer:
                live = bool(json.load(answer)["faults"])
            now = time.time()
            if live and self.present is None:
                self.present = now
            elif not live and self.present is not None and self.gone is None:
                self.gone = now
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


def query(prom: str, expr: str, at: float) -> list[dict[str, Any]]:
    data = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}).encode()
    with urllib.request.urlopen(prom + "/api/v1/query", data=data, timeout=10) as answer:
        result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
        return result


def first_breach(prom: str, start: float, end: float) -> float | None:
    """The first scrape timestamp in ``[start, end]`` at which the SLO expression violates."""
    window = max(2, math.ceil(end - start) + 2)
    series = query(prom, f"{SAMPLES}[{window}s]", end)
    stamps = sorted({float(t) for s in series for t, _ in s["values"] if start <= float(t) <= end})
    for t in stamps:  # just after the scrape: the first instant any monitor could evaluate it
        values = [float(v["value"][1]) for v in query(prom, SLO_QUERY, t + 0.001)]
        if values and any(v >= THRESHOLD for v in values):
            return t
    return None


def slo_holds(prom: str) -> bool:
    values = [float(v["value"][1]) for v in query(prom, SLO_QUERY, time.time())]
    return bool(values) and all(v < THRESHOLD for v in values)


@dataclass
class Result:
    startup: list[float] = field(default_factory=list)
    removal: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    run_rate: list[float] = field(default_factory=list)
    misses: int = 0


@dataclass
class Contender:
    name: str
    command: Callable[[Path, str], tuple[list[str], dict[str, str]]]
    """``(workdir, prometheus url)`` → argv and extra environment."""
    result: Result = field(default_factory=Result)


def aftershock(for_: str, interval: str) -> Callable[[Path, str], tuple[list[str], dict[str, str]]]:
    def build(work: Path, prom: str) -> tuple[list[str], dict[str, str]]:
        text = (REPO / "experiments" / "demo-payment-latency.yaml").read_text()
        text = text.replace("      for: 0s", f"      for: {for_}").replace("    interval: 1s", f"    interval: {interval}")
        path = work / "experiment.yaml"
        path.write_text(text)
        return ([str(BIN / "aftershock"), "run", str(path), "--set", "duration=20s", "--state-dir", str(work / "state"),
                 "--output", "json"], {"PROMETHEUS_URL": prom})
    return build


def chaos_toolkit(frequency: float, admin: str, token: str) -> Callable[[Path, str], tuple[list[str], dict[str, str]]]:
    def build(work: Path, prom: str) -> tuple[list[str], dict[str, str]]:
        probe = {"type": "python", "module": "ctk_slo", "func": "slo_holds",
                 "arguments": {"url": prom, "query": SLO_QUERY, "threshold": THRESHOLD}}
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        fault = {"id": "ctk-payment-delay", "run_id": "ctk", "kind": "latency", "latency_ms": 500.0,
                 "jitter_ms": 20.0, "upstream": "payment-gateway", "deadline": time.time() + 60}
        experiment = {
            "title": "Orders survive 500ms latency towards the payment gateway",
            "description": "bench/bench_peers.py: the demo experiment in Chaos Toolkit's format",
            "controls": [{"name": "safeguards", "provider": {
                "type": "python", "module": "chaosaddons.controls.safeguards",
                "arguments": {"probes": [{"name": "checkout-p95", "type": "probe", "frequency": frequency,
                                          "tolerance": True, "provider": probe}]}}}],
            "steady-state-hypothesis": {"title": "checkout P95 holds", "probes": [
                {"name": "checkout-p95-holds", "type": "probe", "tolerance": True, "provider": probe}]},
            "method": [{"name": "inject-payment-delay", "type": "action",
                        "provider": {"type": "http", "url": admin + "/faults", "method": "POST",
                                     "headers": auth, "arguments": fault, "timeout": 5},
                        "pauses": {"after": 20}}],
            "rollbacks": [{"name": "remove-payment-delay", "type": "action",
                           "provider": {"type": "http", "url": admin + "/faults/ctk-payment-delay",
                                        "method": "DELETE", "headers": auth, "timeout": 5}}],
        }
        path = work / "experiment.json"
        path.write_text(json.dumps(experiment, indent=2))
        argv = [str(BIN / "chaos"), "--no-version-check", "--log-file", str(work / "chaostoolkit.log"), "run",
                "--journal-path", str(work / "journal.json"), "--rollback-strategy", "always", str(path)]
        return argv, {"PYTHONPATH": str(REPO / "bench")}
    return build


async def settle(prom: str, bound_s: float = 60.0) -> None:
    """Wait (bounded) until the SLO holds again and no fault is live, then one more scrape."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if slo_holds(prom):
            await asyncio.sleep(1.5)
            return
        await asyncio.sleep(0.5)
    raise SystemExit("the SLO did not hold again between runs")


async def one(c: Contender, stack: DemoStack, prom: PrometheusServer, counting: Counting) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        argv, extra = c.command(work, counting.url)
        env = {**os.environ, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
               "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
               "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, **extra}
        watch = FaultWatch(stack.proxy_admin_url, stack.proxy_token)
        launched = time.time()
        proc = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=work, capture_output=True, text=True,
                                       timeout=120)
        ended = time.time()
        watch.stop()
        if watch.present is None or watch.gone is None:
            c.result.misses += 1
            last = (proc.stdout.strip().splitlines() or [""])[-1]
            return f"{c.name}: no fault seen (exit {proc.returncode}) {proc.stderr[-300:]} {last[-300:]}"
        c.result.run_rate.append(counting.between(launched, ended) / (ended - launched))
        breach = first_breach(prom.url, watch.present, watch.gone)
        c.result.startup.append(watch.present - launched)
        live = watch.gone - watch.present
        c.result.rate.append(counting.between(watch.present, watch.gone) / live)
        if breach is None:
            c.result.misses += 1
            return f"{c.name}: fault removed after {live:.2f}s without a breaching scrape (exit {proc.returncode})"
        c.result.removal.append(watch.gone - breach)
        return (f"{c.name}: start-up {watch.present - launched:.2f}s, breach → removed {watch.gone - breach:.3f}s, "
                f"{c.result.rate[-1]:.1f} req/s (exit {proc.returncode})")


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    async with DemoStack(load_rate=25.0) as stack, \
            PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
        counting = Counting(prom.url)
        admin, token = stack.proxy_admin_url, stack.proxy_token
        contenders = [
            Contender("aftershock (for: 0s, interval: 1s, as shipped)", aftershock("0s", "1s")),
            Contender("chaos toolkit + safeguards every 0.5 s", chaos_toolkit(0.5, admin, token)),
            Contender("aftershock (for: 1s, interval: 500ms, previous demo)", aftershock("1s", "500ms")),
            Contender("chaos toolkit + safeguards every 0.1 s", chaos_toolkit(0.1, admin, token)),
        ]
        await settle(prom.url, 90.0)
        for r in range(args.rounds):
            for c in contenders:
                print(f"round {r + 1}: " + await one(c, stack, prom, counting), flush=True)
                await settle(prom.url)
        counting.close()
    print(f"\n{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {args.rounds} alternating rounds\n")
    print("| contender | breach → fault removed, median | p90 | launch → fault injected, median | "
          "Prometheus requests/s while the fault is live | over the whole run | misses |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in contenders:
        r = c.result
        if not r.removal:
            print(f"| {c.name} | – | – | – | – | – | {r.misses} |")
            continue
        print(f"| {c.name} | {statistics.median(r.removal):.3f} s | {q(r.removal, 0.9):.3f} s | "
              f"{statistics.median(r.startup):.2f} s | {statistics.median(r.rate):.1f} | "
              f"{statistics.median(r.run_rate):.1f} | {r.misses} |")
    base = contenders[0].result
    for c in contenders[1:]:
        if c.result.removal and base.removal:
            print(f"ratio {c.name} / {contenders[0].name}: breach → removed "
                  f"{statistics.median(c.result.removal) / statistics.median(base.removal):.1f}x, "
                  f"start-up {statistics.median(c.result.startup) / statistics.median(base.startup):.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
