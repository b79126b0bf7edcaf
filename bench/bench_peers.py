"""Breach detection, monitoring load and start-up: Aftershock against the real Chaos Toolkit CLI, one run.

Callers: humans (figures in ``docs/benchmarks.md``, "Breach detection against Chaos Toolkit"). A
script, not a test. One demo stack (``chaos.demo.stack.DemoStack``: order-service → fault proxy →
payment gateway, load at 25 req/s) and one Prometheus scraping it every second; contenders run one
after the other, alternating, ``--rounds`` times:

- ``aftershock run experiments/demo-payment-latency.yaml`` as shipped (``for: 0s``, ``interval: 1s``,
  scrape-aligned monitor), and with the previous demo settings (``for: 1s``, ``interval: 500ms``);
- ``chaos run --rollback-strategy always`` (Chaos Toolkit 1.19) with a chaostoolkit-addons safeguard
  probing the same SLO every 0.5 s and every 0.1 s (its best honest settings), the same steady-state
  check before the fault, the fault injected and removed through the proxy's admin API.

Chaos Toolkit runs from its own virtualenv (``--peer-venv``, created with pip on first use) holding
only chaostoolkit, chaostoolkit-lib and chaostoolkit-addons at the project's versions: Aftershock's
dev environment also holds chaostoolkit-reporting, a ``chaos`` CLI plugin that imports matplotlib on
every ``chaos`` command (~0.7 s), which would flatter Aftershock. Aftershock runs the same way, as
its users install it: the wheel of this tree, built and installed into its own virtualenv
(``--aftershock-venv``, dependencies pinned to the dev venv's versions as ``scripts/wheel-test.sh``
does; the wheel is reinstalled on every start, so the figures are this tree's), not the dev venv's
editable install, whose import hook costs every start ~10 ms (``--editable`` measures that one).
Both tools run with byte code written (``PYTHONDONTWRITEBYTECODE`` dropped), as installed packages are.

Each round has three parts, measured the same way for every contender, from outside:

1. **breach** (the 500 ms fault, removed by each contender's stop condition): *breach → fault
   removed* = from the first scrape at which the SLO expression violates its objective (re-evaluated
   afterwards just after each scrape timestamp) to the fault being gone from the proxy (its admin API
   polled every 5 ms); *launch → fault injected* = process start to the fault present in the proxy;
2. **window** (a 50 ms fault that breaches nothing, live ``--window`` seconds; a run whose SLO
   breached all the same, as on an overloaded box, is a miss): the queries each
   contender sends to Prometheus while the fault is live (a counting forwarder in front of
   Prometheus reads every request): *SLO queries per SLO per scrape interval* = SLO expressions sent
   (each occurrence of a watched SLO's expression in a request, batched or not) ÷ (SLOs the contender
   watches × scrape intervals in the window); HTTP requests per second too;
3. **start-up commands**: ``aftershock --help``, ``aftershock validate`` (the demo file) and
   ``chaos --help``, wall time per command, alternating.

    .venv/bin/python bench/bench_peers.py [--rounds 8] [--window 20] [--startup-only]

``--startup-only`` runs parts 1 (launch → fault injected, Aftershock as shipped and Chaos Toolkit at
0.5 s; the breach figures come with it) and 3 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chaos.demo.prometheus import PrometheusServer  # noqa: E402
from chaos.demo.stack import DemoStack  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from harness.forwarder import Forwarder  # noqa: E402  (the tests' counting forwarder)

DEV_BIN = Path(sys.executable).parent
BIN = DEV_BIN
"""Where the ``aftershock`` under test is: the bench virtualenv's (``aftershock_venv``) unless ``--editable``."""
DEMO = REPO / "experiments" / "demo-payment-latency.yaml"
SLO_QUERY = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="order"}[5s])))'
ERROR_QUERY = ('(sum(rate(http_requests_total{service="order",code=~"5.."}[5s])) or vector(0)) / '
               'sum(rate(http_requests_total{service="order"}[5s]))')
SLO_QUERIES = (SLO_QUERY, ERROR_QUERY)
"""The SLO expressions the forwarder counts (the demo's two; Chaos Toolkit's safeguard watches the first)."""
SAMPLES = 'http_request_duration_seconds_count{service="order"}'
THRESHOLD = 0.3
SCRAPE_S = 1.0
PEER_PACKAGES = ("chaostoolkit==1.19.0", "chaostoolkit-lib==1.44.0", "chaostoolkit-addons==0.11.0")
Build = Callable[[Path, str, str, float], tuple[list[str], dict[str, str]]]
"""``(workdir, prometheus url, latency, seconds)`` → argv and extra environment."""


class Counting(Forwarder):
    """The tests' counting forwarder in front of Prometheus (``harness.forwarder``), read per window:
    how many query requests, and how many SLO expressions they carry."""

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(requests, SLO expressions) sent in ``[start, end]``."""
        with self.lock:
            inside = [sum(expr.count(q) for q in SLO_QUERIES) for t, path, expr in self.seen
                      if path.startswith("/api/v1/query") and start <= t <= end]
        return len(inside), sum(inside)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process so far (``/proc/PID/stat``), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FaultWatch:
    """Polls the proxy's ``GET /faults`` every 5 ms: when a fault appeared and when it was gone, and
    the contender's CPU time when it appeared (``pid``, set once the process runs)."""

    def __init__(self, admin: str, token: str) -> None:
        self.request = urllib.request.Request(admin + "/faults", headers={"Authorization": f"Bearer {token}"})
        self.present: float | None = None
        self.gone: float | None = None
        self.pid: int | None = None
        self.cpu: float | None = None
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
                self.cpu = cpu_seconds(self.pid) if self.pid is not None else None
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
    startup_cpu: list[float] = field(default_factory=list)
    """CPU seconds of the contender's process from launch to the fault present (load-independent)."""
    removal: list[float] = field(default_factory=list)
    per_slo: list[float] = field(default_factory=list)
    """SLO queries per SLO per scrape interval over the long fault window."""
    window_rate: list[float] = field(default_factory=list)
    """HTTP requests/s over the long fault window."""
    breach_rate: list[float] = field(default_factory=list)
    """HTTP requests/s while the breaching fault was live (short: its first ticks dominate)."""
    misses: int = 0


@dataclass
class Contender:
    name: str
    command: Build
    slos: int
    """SLOs the contender watches while the fault is live."""
    window: bool = True
    """Also measured over the long, non-breaching fault window."""
    result: Result = field(default_factory=Result)


def aftershock(for_: str, interval: str) -> Build:
    def build(work: Path, prom: str, latency: str, seconds: float) -> tuple[list[str], dict[str, str]]:
        text = DEMO.read_text()
        text = text.replace("      for: 0s", f"      for: {for_}").replace("    interval: 1s", f"    interval: {interval}")
        path = work / "experiment.yaml"
        path.write_text(text)
        return ([str(BIN / "aftershock"), "run", str(path), "--set", f"duration={seconds:g}s", "--set",
                 f"latency={latency}", "--state-dir", str(work / "state"), "--output", "json"],
                {"AFTERSHOCK_PROMETHEUS_URL": prom})
    return build


def chaos_toolkit(chaos: Path, frequency: float, admin: str, token: str) -> Build:
    def build(work: Path, prom: str, latency: str, seconds: float) -> tuple[list[str], dict[str, str]]:
        probe = {"type": "python", "module": "ctk_slo", "func": "slo_holds",
                 "arguments": {"url": prom, "query": SLO_QUERY, "threshold": THRESHOLD}}
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        fault = {"id": "ctk-payment-delay", "run_id": "ctk", "kind": "latency",
                 "latency_ms": float(latency.removesuffix("ms")), "jitter_ms": 20.0, "upstream": "payment-gateway",
                 "deadline": time.time() + seconds + 40}
        experiment = {
            "title": f"Orders survive {latency} latency towards the payment gateway",
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
                        "pauses": {"after": seconds}}],
            "rollbacks": [{"name": "remove-payment-delay", "type": "action",
                           "provider": {"type": "http", "url": admin + "/faults/ctk-payment-delay",
                                        "method": "DELETE", "headers": auth, "timeout": 5}}],
        }
        path = work / "experiment.json"
        path.write_text(json.dumps(experiment, indent=2))
        argv = [str(chaos), "--no-version-check", "--log-file", str(work / "chaostoolkit.log"), "run",
                "--journal-path", str(work / "journal.json"), "--rollback-strategy", "always", str(path)]
        return argv, {"PYTHONPATH": str(REPO / "bench")}
    return build


def peer_venv(path: Path) -> Path:
    """Chaos Toolkit as its users install it for this: its own virtualenv, created on first use."""
    chaos = path / "bin" / "chaos"
    if not chaos.exists():
        print(f"creating {path} with {' '.join(PEER_PACKAGES)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True)
    return chaos


def aftershock_venv(path: Path) -> Path:
    """This tree's wheel installed into its own virtualenv (created on first use, the wheel reinstalled
    every time), dependencies pinned to the dev venv's versions (pip's cache serves them)."""
    pip = [str(DEV_BIN / "pip"), "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix="bench-wheel-") as tmp:
        shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' build/lib keeps deleted modules
        subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", tmp, str(REPO)], check=True)
        wheel = next(Path(tmp).glob("aftershock-*.whl"))
        if not (path / "bin" / "python").exists():
            print(f"creating {path} with the wheel of this tree", flush=True)
            pins = subprocess.run([*pip, "freeze", "--exclude-editable"], check=True, capture_output=True,
                                  text=True).stdout
            (Path(tmp) / "pins.txt").write_text("".join(line + "\n" for line in pins.splitlines()
                                                        if not line.startswith("aftershock")))
            subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
            subprocess.run([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-c",
                            str(Path(tmp) / "pins.txt"), str(wheel)], check=True)
        else:
            subprocess.run([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                            "--force-reinstall", "--no-deps", str(wheel)], check=True)
    return path / "bin"


def child_env() -> dict[str, str]:
    """The environment every contender runs in: byte code written, as for installed packages."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


async def settle(prom: str, bound_s: float = 60.0) -> None:
    """Wait (bounded) until the SLO holds again and no fault is live, then one more scrape."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if slo_holds(prom):
            await asyncio.sleep(1.5)
            return
        await asyncio.sleep(0.5)
    raise SystemExit("the SLO did not hold again between runs")


async def launch(c: Contender, stack: DemoStack, counting: Counting, latency: str, seconds: float
                 ) -> tuple[FaultWatch, float, float, subprocess.CompletedProcess[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        argv, extra = c.command(work, counting.url, latency, seconds)
        env = {**child_env(), "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
               "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
               "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, **extra}
        watch = FaultWatch(stack.proxy_admin_url, stack.proxy_token)

        def run() -> subprocess.CompletedProcess[str]:
            with subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) as child:
                watch.pid = child.pid
                out, err = child.communicate(timeout=seconds + 120)
            return subprocess.CompletedProcess(argv, child.returncode, out, err)

        launched = time.time()
        proc = await asyncio.to_thread(run)
        ended = time.time()
        watch.stop()
    return watch, launched, ended, proc


def why(proc: subprocess.CompletedProcess[str]) -> str:
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return f"(exit {proc.returncode}) {proc.stderr[-300:]} {last[-300:]}"


async def breach(c: Contender, stack: DemoStack, prom: PrometheusServer, counting: Counting) -> str:
    watch, launched, _, proc = await launch(c, stack, counting, "500ms", 20)
    if watch.present is None or watch.gone is None:
        c.result.misses += 1
        return f"{c.name}: no fault seen {why(proc)}"
    found = first_breach(prom.url, watch.present, watch.gone)
    c.result.startup.append(watch.present - launched)
    if watch.cpu is not None:
        c.result.startup_cpu.append(watch.cpu)
    live = watch.gone - watch.present
    c.result.breach_rate.append(counting.between(watch.present, watch.gone)[0] / live)
    if found is None:
        c.result.misses += 1
        return f"{c.name}: fault removed after {live:.2f}s without a breaching scrape (exit {proc.returncode})"
    c.result.removal.append(watch.gone - found)
    return (f"{c.name}: start-up {watch.present - launched:.2f}s ({watch.cpu} CPU s), breach → removed {watch.gone - found:.3f}s "
            f"(exit {proc.returncode})")


async def window(c: Contender, stack: DemoStack, counting: Counting, seconds: float) -> str:
    watch, _, _, proc = await launch(c, stack, counting, "50ms", seconds)
    if watch.present is None or watch.gone is None:
        c.result.misses += 1
        return f"{c.name}: no fault seen in the window run {why(proc)}"
    live = watch.gone - watch.present
    requests, expressions = counting.between(watch.present, watch.gone)
    if live < 0.8 * seconds:  # the SLO breached (an overloaded box slows the demo too): not a window
        c.result.misses += 1
        return f"{c.name}: the window run's fault was removed after {live:.1f}s (exit {proc.returncode})"
    c.result.window_rate.append(requests / live)
    c.result.per_slo.append(expressions / (c.slos * live / SCRAPE_S))
    return (f"{c.name}: {live:.1f}s window, {requests} requests, {expressions} SLO queries: "
            f"{c.result.per_slo[-1]:.2f} per SLO per scrape (exit {proc.returncode})")


def startup_commands(chaos: Path, reps: int, times: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    """``aftershock --help``, ``aftershock validate`` and ``chaos --help``, alternating: wall and CPU time each."""
    commands = {"aftershock --help": [str(BIN / "aftershock"), "--help"],
                "aftershock validate": [str(BIN / "aftershock"), "validate", str(DEMO)],
                "chaos --help": [str(chaos), "--help"]}
    env = child_env()
    for _ in range(reps):
        for name, argv in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.setdefault(name, []).append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the non-breaching fault window")
    parser.add_argument("--peer-venv", type=Path, default=Path(tempfile.gettempdir()) / "aftershock-bench-ctk",
                        help="Chaos Toolkit's own virtualenv (created with pip when missing)")
    parser.add_argument("--aftershock-venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "aftershock-bench-wheel",
                        help="Aftershock's own virtualenv: this tree's wheel, reinstalled on every start")
    parser.add_argument("--editable", action="store_true",
                        help="measure the dev venv's editable install instead of the installed wheel")
    parser.add_argument("--startup-only", action="store_true",
                        help="only launch → injected (with the breach runs) and the start-up commands")
    args = parser.parse_args()
    global BIN
    chaos = peer_venv(args.peer_venv)
    if args.editable:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "chaos")], env=child_env(),
                       check=True, stdout=subprocess.DEVNULL)
    else:
        BIN = aftershock_venv(args.aftershock_venv)
    loads: list[float] = []
    commands: dict[str, list[float]] = {}
    commands_cpu: dict[str, list[float]] = {}
    async with DemoStack(load_rate=25.0) as stack, \
            PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
        counting = Counting(prom.url)
        admin, token = stack.proxy_admin_url, stack.proxy_token
        contenders = [
            Contender("aftershock (for: 0s, interval: 1s, as shipped)", aftershock("0s", "1s"), slos=2),
            Contender("chaos toolkit + safeguards every 0.5 s", chaos_toolkit(chaos, 0.5, admin, token), slos=1),
            Contender("aftershock (for: 1s, interval: 500ms, previous demo)", aftershock("1s", "500ms"), slos=2,
                      window=False),
            Contender("chaos toolkit + safeguards every 0.1 s", chaos_toolkit(chaos, 0.1, admin, token), slos=1),
        ]
        if args.startup_only:
            contenders = contenders[:2]
        await settle(prom.url, 90.0)
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}: load average {loads[-1]:.2f}", flush=True)
            startup_commands(chaos, 3, commands, commands_cpu)
            for c in contenders:
                print(f"round {r + 1}: " + await breach(c, stack, prom, counting), flush=True)
                await settle(prom.url)
            for c in contenders:
                if c.window and not args.startup_only:
                    print(f"round {r + 1}: " + await window(c, stack, counting, args.window), flush=True)
                    await settle(prom.url)
        counting.close()
    loads.append(os.getloadavg()[0])
    print(f"\n{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {args.rounds} alternating rounds · "
          f"load average (1 min) {min(loads):.1f}–{max(loads):.1f} · aftershock from "
          f"{'the editable dev install' if args.editable else BIN.parent}\n")
    print("median (range) over the rounds\n")
    print("| contender | breach → fault removed, median | p90 | launch → fault injected | CPU seconds to it | "
          f"SLO queries per SLO per scrape interval ({args.window:g} s fault) | requests/s then | "
          "requests/s while the breaching fault is live | misses |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in contenders:
        res = c.result
        removal = (f"{statistics.median(res.removal):.3f} s | {q(res.removal, 0.9):.3f} s" if res.removal
                   else "– | –")
        print(f"| {c.name} | {removal} | {spread(res.startup)} s | {spread(res.startup_cpu)} | {spread(res.per_slo)} | "
              f"{spread(res.window_rate, 1)} | {spread(res.breach_rate, 1)} | {res.misses} |")
    base = contenders[0].result
    for c in contenders[1:]:
        if c.result.removal and base.removal:
            print(f"ratio {c.name} / {contenders[0].name}: breach → removed "
                  f"{statistics.median(c.result.removal) / statistics.median(base.removal):.1f}x, "
                  f"start-up {statistics.median(c.result.startup) / statistics.median(base.startup):.2f}x")
    print("\n| command | wall time, median (range) | ÷ chaos --help | CPU time, median (range) | ÷ chaos --help |")
    print("|---|---:|---:|---:|---:|")
    peer = statistics.median(commands["chaos --help"])
    peer_cpu = statistics.median(commands_cpu["chaos --help"])
    for name, values in commands.items():
        print(f"| `{name}` | {spread(values, 3)} s | {statistics.median(values) / peer:.2f} | "
              f"{spread(commands_cpu[name], 3)} s | {statistics.median(commands_cpu[name]) / peer_cpu:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
