"""Benchmark of the SLO monitor's tick against a real Prometheus (a script, not a test).

Callers: humans (figures in ``docs/benchmarks.md``, section "Monitor"). Starts a throw-away Prometheus
(``chaos.demo.prometheus``) scraping a loopback exporter with realistic HTTP histograms and
counters for 20 services, with ``--history`` of the same series backfilled before it starts (so
the 20-minute windows hold 20 minutes of samples, as they would in production, instead of the few
minutes the benchmark runs), then times one monitor tick for 10 to 10,000 SLOs (30 % of them repeat
another SLO's query, as when several runs watch the same service) against, in the same run:

- **the previous monitor** (``chaos/slo/monitoring.py``, ``chaos/slo/cadence.py`` and
  ``chaos/clients/prometheus.py`` of commit :data:`BASELINE`, read with ``git show``: batches of
  200 expressions joined by a flat ``or`` chain, cut in order);
- **a naive loop** (one ``PrometheusConnect.custom_query`` per SLO, sequentially; sizes up to
  ``--naive-max``, as it takes minutes beyond).

Reports wall time, CPU seconds of this process and of the Prometheus process (``/proc/PID/stat``)
per tick, Prometheus' own evaluation time per tick (the ``inner_eval`` slice of
``prometheus_engine_query_duration_seconds`` on its ``/metrics``, summed over the tick's
requests), requests per tick, the ratios, and the load average of the (shared) machine.

    .venv/bin/python bench/bench_monitor.py [--sizes 10,100,1000,10000] [--repeat 5] [--concurrency 16]
    .venv/bin/python bench/bench_monitor.py --layouts --repeat 3   # where Prometheus' time goes
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from prometheus_api_client.prometheus_connect import PrometheusConnect
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from chaos.demo.prometheus import PrometheusServer, Sample, free_port, openmetrics
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.cadence import join, member, newest_probe, partition, plan
from chaos.slo.monitoring import Monitor

SERVICES = [f"svc{i:02d}" for i in range(20)]
WINDOWS = ["30s", "1m", "2m", "5m", "10m", "15m", "20m"] + [f"{s}s" for s in range(35, 35 + 5 * 63, 5)]
"""70 windows: the first 7 give the 700 queries of the 1,000-SLO tick, all 70 the 7,000 of 10,000."""
BASELINE = "cba2b88"
"""The commit whose monitor is "the previous monitor" (flat ``or`` chains of 200, cut in order)."""
BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0)
RATE_PER_SERVICE = 100.0
"""Requests per second and service the exporter observes (2,000/s over 20 services)."""
ERROR_SHARE = 0.02
REPO = Path(__file__).resolve().parents[1]


def load_previous_monitor(workdir: Path) -> ModuleType:
    """``chaos.slo.monitoring`` of :data:`BASELINE` with its own ``cadence`` and Prometheus client."""
    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    sources = {"previous_prometheus": show("chaos/clients/prometheus.py"),
               "previous_cadence": show("chaos/slo/cadence.py"),
               "previous_monitoring": show("chaos/slo/monitoring.py")
               .replace("from chaos.clients.prometheus import", "from previous_prometheus import")
               .replace("from chaos.slo.cadence import", "from previous_cadence import")}
    sys.path.insert(0, str(workdir))
    for name, text in sources.items():
        (workdir / f"{name}.py").write_text(text)
        spec = importlib.util.spec_from_file_location(name, workdir / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules["previous_monitoring"]


def history(instance: str, seconds: int, end: float) -> str:
    """OpenMetrics for the exporter's series over ``seconds`` before ``end``, one sample a second, at
    the exporter's average rates (backfilled, so long windows are full from the first tick)."""
    import math

    samples: list[Sample] = []
    base = {"job": "bench", "instance": instance}
    start = math.floor(end) - seconds
    for k in range(seconds):
        t = float(start + k)
        n = RATE_PER_SERVICE * k
        for svc in SERVICES:
            labels = {**base, "service": svc}
            for le in BUCKETS:
                samples.append(Sample("bench_request_duration_seconds_bucket", {**labels, "le": repr(le)},
                                      round(n * (1 - math.exp(-5 * le))), t))
            samples.append(Sample("bench_request_duration_seconds_bucket", {**labels, "le": "+Inf"}, n, t))
            samples.append(Sample("bench_request_duration_seconds_count", labels, n, t))
            samples.append(Sample("bench_request_duration_seconds_sum", labels, n * 0.2, t))
            samples.append(Sample("bench_requests_total", {**labels, "code": "500"}, round(n * ERROR_SHARE), t))
            samples.append(Sample("bench_requests_total", {**labels, "code": "200"},
                                  n - round(n * ERROR_SHARE), t))
    return openmetrics(samples)


def prometheus_cpu(pid: int) -> float:
    """User + system CPU seconds the Prometheus process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prometheus_eval(url: str) -> float:
    """Seconds Prometheus has spent evaluating queries so far (its ``inner_eval`` summary's sum)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('prometheus_engine_query_duration_seconds_sum{slice="inner_eval"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def run_exporter(port: int) -> None:
    """Child process: exporter with steady traffic, so rate() and histogram_quantile() have data
    (kept out of the measured process so its CPU is the monitor's alone)."""
    registry = CollectorRegistry()
    hist = Histogram("bench_request_duration_seconds", "latency", ["service"], registry=registry,
                     buckets=BUCKETS)
    reqs = Counter("bench_requests", "requests", ["service", "code"], registry=registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    rnd = random.Random(1)
    while True:
        time.sleep(0.05)
        for _ in range(100):
            svc = rnd.choice(SERVICES)
            hist.labels(svc).observe(rnd.expovariate(5))
            reqs.labels(svc, "500" if rnd.random() < ERROR_SHARE else "200").inc()


def make_queries() -> list[str]:
    out: list[str] = []
    for window in WINDOWS:  # window-major: the first 700 queries use the first 7 windows
        for svc in SERVICES:
            sel = f'service="{svc}"'
            out += [
                f"histogram_quantile(0.95, sum by (le) (rate(bench_request_duration_seconds_bucket{{{sel}}}[{window}])))",
                f'sum(rate(bench_requests_total{{{sel},code=~"5.."}}[{window}])) / sum(rate(bench_requests_total{{{sel}}}[{window}]))',
                f"sum(increase(bench_requests_total{{{sel}}}[{window}]))",
                f"max(rate(bench_request_duration_seconds_sum{{{sel}}}[{window}]) / rate(bench_request_duration_seconds_count{{{sel}}}[{window}]))",
                f"histogram_quantile(0.99, sum by (le) (rate(bench_request_duration_seconds_bucket{{{sel}}}[{window}])))",
            ]
    return out


def make_slos(n: int, queries: list[str]) -> list[Slo]:
    unique = max(1, round(n * 0.7))
    rnd = random.Random(n)
    chosen = queries[:unique] + [rnd.choice(queries[:unique]) for _ in range(n - unique)]
    return [Slo.model_validate({"name": f"slo-{i}", "query": q, "objective": {"op": "<", "value": 1e9}})
            for i, q in enumerate(chosen)]


async def wait_for_data(url: str, bound_s: float = 30.0) -> None:
    # ``up`` only comes from live scrapes (the backfilled history answers rate() before the first one,
    # which Prometheus' target discovery delays by about 5 s)
    probe = Slo.model_validate({"name": "probe", "query": 'sum(up{job="bench"})', "objective": {"op": ">", "value": 0}})
    async with Monitor(MonitorSpec(prometheus=url)) as monitor:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if (await monitor.evaluate_now([probe])).verdicts[0].status == "ok":
                return
            await asyncio.sleep(0.5)
    raise SystemExit("Prometheus has no data to benchmark")


@dataclass
class Measured:
    """Medians of one contender's ticks."""

    wall: float
    cpu: float
    prom_cpu: float
    prom_eval: float
    queries: int
    requests: int


async def bench_monitors(monitor_classes: list[Any], prom: PrometheusServer, slos: list[Slo], repeat: int,
                         concurrency: int, batch_members: int | None = None) -> list[Measured]:
    """Median wall and CPU seconds of one tick (ours and Prometheus'), distinct queries and requests,
    per monitor class; the contenders' ticks alternate, so a change in the machine's load hits all."""
    spec = MonitorSpec(prometheus=prom.url, timeout="30s", max_concurrency=concurrency)
    assert prom.pid is not None
    monitors = [cls(spec) for cls in monitor_classes]
    try:
        for monitor in monitors:
            monitor.add("bench", slos)
            await monitor.tick()  # warm-up: connections, learning the scrape cadence
            await monitor.tick()
        if batch_members:
            monitors[0].batch_members = batch_members
        samples: list[list[tuple[float, float, float, float]]] = [[] for _ in monitors]
        sent = [monitor.client.requests_sent for monitor in monitors]
        for _ in range(repeat):
            for k, monitor in enumerate(monitors):
                e0 = await asyncio.to_thread(prometheus_eval, prom.url)
                p0 = prometheus_cpu(prom.pid)
                w0, c0 = time.perf_counter(), time.process_time()
                ticks = await monitor.tick()
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                prom_cpu = prometheus_cpu(prom.pid) - p0
                samples[k].append((wall, cpu, prom_cpu, await asyncio.to_thread(prometheus_eval, prom.url) - e0))
                bad = [v for v in ticks["bench"].verdicts if v.status != "ok" and v.slo != "monitor"]
                if bad:
                    print(f"warning: {len(bad)} SLOs not ok, e.g. {bad[0].error}", file=sys.stderr)
        return [Measured(wall=statistics.median(r[0] for r in rows), cpu=statistics.median(r[1] for r in rows),
                         prom_cpu=statistics.median(r[2] for r in rows), prom_eval=statistics.median(r[3] for r in rows),
                         queries=monitor.last_tick_queries,
                         requests=(monitor.client.requests_sent - before) // repeat)
                for monitor, rows, before in zip(monitors, samples, sent, strict=True)]
    finally:
        for monitor in monitors:
            await monitor.aclose()


def bench_naive(url: str, slos: list[Slo], repeat: int) -> tuple[float, float]:
    connect = PrometheusConnect(url=url)
    connect.custom_query("vector(1)")
    walls, cpus = [], []
    for _ in range(repeat):
        t = time.time()
        w0, c0 = time.perf_counter(), time.process_time()
        for slo in slos:
            connect.custom_query(slo.query, params={"time": f"{t:.3f}"})
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    connect.close()
    return statistics.median(walls), statistics.median(cpus)


async def layouts(prom: PrometheusServer, repeat: int) -> None:
    """Where a 1,000-SLO tick's Prometheus time goes: the same 700 queries (and 100 freshness probes)
    sent in different request layouts, with Prometheus' own statistics (``stats=all``: samples
    loaded, inner evaluation time) and the CPU of its process."""
    import httpx

    assert prom.pid is not None
    queries = make_queries()[:700]
    plans = [plan(q) for q in queries]
    members = [member(f"q{i}", p) for i, p in enumerate(plans)]
    selectors = list(dict.fromkeys(sel for p in plans for sel in p.selectors))
    probes = [newest_probe(f"n{j}", sel) for j, sel in enumerate(selectors)]
    both = members + probes
    costs = [p.cost for p in plans] + [1.0] * len(probes)

    def flat(group: list[str]) -> str:
        return " or ".join(group)

    def cut(items: list[str], size: int) -> list[list[str]]:
        return [items[i:i + size] for i in range(0, len(items), size)]

    def by_cost(size: int) -> list[list[str]]:
        return [[both[i] for i in group] for group in partition(costs, size)]

    p95 = [m for m, q in zip(members, queries, strict=True) if q.startswith("histogram_quantile(0.95")]
    p99 = [m for m, q in zip(members, queries, strict=True) if q.startswith("histogram_quantile(0.99")]
    inner = [member(f"i{i}", plan(q.split(", ", 1)[1][:-1])) for i, q in enumerate(queries)
             if q.startswith("histogram_quantile(0.95")]
    variants: list[tuple[str, list[str]]] = [
        ("800 in one request, flat `or` chain", [flat(both)]),
        ("800 in one request, balanced `or` tree", [join(both)]),
        ("200 per request in order, flat `or` (previous monitor)", [flat(g) for g in cut(both, 200)]),
        ("200 per request in order, balanced `or`", [join(g) for g in cut(both, 200)]),
        ("100 per request by cost, balanced `or` (this monitor)", [join(g) for g in by_cost(100)]),
        ("50 per request by cost, balanced `or`", [join(g) for g in by_cost(50)]),
        ("one request per query, unlabelled", [f"({q})" for q in queries]),
        ("the 100 freshness probes alone", [join(probes)]),
        ("p95 queries only (140)", [join(g) for g in cut(p95, 70)]),
        ("p95 and p99 queries (280)", [join(g) for g in cut(p95 + p99, 140)]),
        ("their shared `sum by (le) (rate(...))` only (140)", [join(g) for g in cut(inner, 70)]),
    ]
    print(f"Request layouts of the 1,000-SLO tick; median of {repeat}; load average {load()}\n")
    print("| layout | requests | wall | Prometheus CPU s | samples loaded | Prometheus inner eval s (sum) |")
    print("|---|---:|---:|---:|---:|---:|")
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=16)) as http:
        slots = asyncio.Semaphore(16)

        async def post(expr: str, t: float) -> dict[str, Any]:
            async with slots:
                response = await http.post(prom.url + "/api/v1/query",
                                           data={"query": expr, "time": f"{t:.3f}", "stats": "all"})
            body: dict[str, Any] = response.json()
            if body.get("status") != "success":
                raise SystemExit(f"Prometheus refused a layout: {body}")
            stats: dict[str, Any] = body["data"]["stats"]
            return stats

        for name, requests in variants:
            rows = []
            for k in range(repeat + 1):
                t = time.time()
                p0, w0 = prometheus_cpu(prom.pid), time.perf_counter()
                stats = await asyncio.gather(*(post(expr, t) for expr in requests))
                if k:  # the first round warms up
                    rows.append((time.perf_counter() - w0, prometheus_cpu(prom.pid) - p0,
                                 sum(s["samples"]["totalQueryableSamples"] for s in stats),
                                 sum(s["timings"]["innerEvalTime"] for s in stats)))
            wall, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
            print(f"| {name} | {len(requests)} | {wall * 1000:.0f} ms | {cpu:.2f} | {rows[-1][2]:,} | "
                  f"{statistics.median(r[3] for r in rows):.3f} |", flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--naive-max", type=int, default=1000, help="largest size the naive loop runs for")
    parser.add_argument("--batch-members", type=int, default=None,
                        help="expressions per request of this monitor (default: its BATCH_MEMBERS)")
    parser.add_argument("--only-monitor", action="store_true", help="skip the previous monitor and the naive loop")
    parser.add_argument("--layouts", action="store_true",
                        help="instead: where Prometheus' time goes for request layouts of the 1,000-SLO tick")
    parser.add_argument("--history", type=int, default=21 * 60,
                        help="seconds of samples backfilled before Prometheus starts (0: none)")
    args = parser.parse_args()
    port = free_port()
    backfill = history(f"127.0.0.1:{port}", args.history, time.time() - 2) if args.history > 0 else None
    exporter = multiprocessing.Process(target=run_exporter, args=(port,), daemon=True)
    exporter.start()
    queries = make_queries()
    with tempfile.TemporaryDirectory() as tmp, \
            PrometheusServer({"bench": [f"127.0.0.1:{port}"]}, scrape_interval="1s", backfill_text=backfill) as prom:
        previous = load_previous_monitor(Path(tmp)).Monitor
        await wait_for_data(prom.url)
        if args.layouts:
            await layouts(prom, args.repeat)
            exporter.terminate()
            return
        print(f"Prometheus {prom.url}; {os.cpu_count()} CPUs; {args.history} s of history; median of "
              f"{args.repeat} ticks; max_concurrency={args.concurrency}; previous monitor = {BASELINE}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load()}\n")
        print("| SLOs | distinct queries | monitor tick | requests | CPU s/tick | Prometheus CPU s/tick | "
              "Prometheus eval s/tick | previous monitor | requests | CPU s/tick | Prometheus CPU s/tick | "
              "naive loop | CPU s/tick | speed-up vs previous | vs naive | Prometheus CPU vs previous | load |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in (int(s) for s in args.sizes.split(",")):
            slos = make_slos(n, queries)
            classes = [Monitor] if args.only_monitor else [Monitor, previous]
            measured = await bench_monitors(classes, prom, slos, args.repeat, args.concurrency, args.batch_members)
            now = measured[0]
            if args.only_monitor:
                print(f"| {n} | {now.queries} | {now.wall * 1000:.0f} ms | {now.requests} | {now.cpu:.3f} | "
                      f"{now.prom_cpu:.2f} | {now.prom_eval:.3f} | {load()} |", flush=True)
                continue
            before = measured[1]
            naive = "–", "–", "–"
            if n <= args.naive_max:
                naive_wall, naive_cpu = await asyncio.to_thread(bench_naive, prom.url, slos, args.repeat)
                naive = f"{naive_wall * 1000:.0f} ms", f"{naive_cpu:.3f}", f"{naive_wall / now.wall:.1f}x"
            # /proc counts CPU in 10 ms ticks: no ratio below a few of them
            prom_ratio = f"{before.prom_cpu / now.prom_cpu:.1f}x" if min(now.prom_cpu, before.prom_cpu) >= 0.03 else "–"
            print(f"| {n} | {now.queries} | {now.wall * 1000:.0f} ms | {now.requests} | {now.cpu:.3f} | "
                  f"{now.prom_cpu:.2f} | {now.prom_eval:.3f} | {before.wall * 1000:.0f} ms | {before.requests} | "
                  f"{before.cpu:.3f} | {before.prom_cpu:.2f} | {naive[0]} | {naive[1]} | "
                  f"{before.wall / now.wall:.1f}x | {naive[2]} | {prom_ratio} | "
                  f"{load()} |", flush=True)
    exporter.terminate()
    exporter.join(5)


if __name__ == "__main__":
    asyncio.run(main())
