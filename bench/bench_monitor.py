"""Benchmark of the SLO monitor's tick against a real Prometheus (a script, not a test).

Callers: humans (figures in ``docs/benchmarks.md``, section "Monitor"). Starts a throw-away Prometheus
(``chaos.demo.prometheus``) scraping a loopback exporter with realistic HTTP histograms and
counters for 20 services, then times one monitor tick for 10, 100 and 1,000 SLOs (30 % of them
repeat another SLO's query, as when several runs watch the same service) against a naive
sequential loop (one ``PrometheusConnect.custom_query`` per SLO, in the same run). Reports wall
time, CPU seconds of this process per tick, and the speed-up ratio.

    .venv/bin/python bench/bench_monitor.py [--sizes 10,100,1000] [--repeat 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import time

from prometheus_api_client.prometheus_connect import PrometheusConnect
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from chaos.demo.prometheus import PrometheusServer, free_port
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.monitoring import Monitor

SERVICES = [f"svc{i:02d}" for i in range(20)]
WINDOWS = ["30s", "1m", "2m", "5m", "10m", "15m", "20m"]


def run_exporter(port: int) -> None:
    """Child process: exporter with steady traffic, so rate() and histogram_quantile() have data
    (kept out of the measured process so its CPU is the monitor's alone)."""
    registry = CollectorRegistry()
    hist = Histogram("bench_request_duration_seconds", "latency", ["service"], registry=registry,
                     buckets=(0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0))
    reqs = Counter("bench_requests", "requests", ["service", "code"], registry=registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    rnd = random.Random(1)
    while True:
        time.sleep(0.05)
        for _ in range(100):
            svc = rnd.choice(SERVICES)
            hist.labels(svc).observe(rnd.expovariate(5))
            reqs.labels(svc, "500" if rnd.random() < 0.02 else "200").inc()


def make_queries() -> list[str]:
    out: list[str] = []
    for window in WINDOWS:
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
    probe = Slo.model_validate({"name": "probe", "query": "sum(rate(bench_requests_total[30s]))",
                                "objective": {"op": ">", "value": 0}})
    async with Monitor(MonitorSpec(prometheus=url)) as monitor:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if (await monitor.evaluate_now([probe])).verdicts[0].status == "ok":
                return
            await asyncio.sleep(0.5)
    raise SystemExit("Prometheus has no data to benchmark")


async def bench_monitor(url: str, slos: list[Slo], repeat: int, concurrency: int) -> tuple[float, float, int]:
    spec = MonitorSpec(prometheus=url, timeout="30s", max_concurrency=concurrency)
    async with Monitor(spec) as monitor:
        monitor.add("bench", slos)
        await monitor.tick()  # warm-up: threads, connections
        walls, cpus = [], []
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            ticks = await monitor.tick()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        bad = [v for v in ticks["bench"].verdicts if v.status != "ok" and v.slo != "monitor"]
        if bad:
            print(f"warning: {len(bad)} SLOs not ok, e.g. {bad[0].error}", file=sys.stderr)
        return statistics.median(walls), statistics.median(cpus), monitor.last_tick_queries


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    exporter = multiprocessing.Process(target=run_exporter, args=(port,), daemon=True)
    exporter.start()
    queries = make_queries()
    with PrometheusServer({"bench": [f"127.0.0.1:{port}"]}, scrape_interval="1s") as prom:
        await wait_for_data(prom.url)
        print(f"Prometheus {prom.url}; {os.cpu_count()} CPUs; median of {args.repeat} ticks; "
              f"max_concurrency={args.concurrency}\n")
        print("| SLOs | distinct queries | monitor tick | naive loop | speed-up | CPU s/tick monitor | CPU s/tick naive |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in (int(s) for s in args.sizes.split(",")):
            slos = make_slos(n, queries)
            wall, cpu, distinct = await bench_monitor(prom.url, slos, args.repeat, args.concurrency)
            naive_wall, naive_cpu = await asyncio.to_thread(bench_naive, prom.url, slos, args.repeat)
            print(f"| {n} | {distinct} | {wall * 1000:.1f} ms | {naive_wall * 1000:.1f} ms | "
                  f"{naive_wall / wall:.1f}x | {cpu:.3f} | {naive_cpu:.3f} |", flush=True)
    exporter.terminate()
    exporter.join(5)


if __name__ == "__main__":
    asyncio.run(main())
