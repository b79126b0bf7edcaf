"""HTTP probes from one process: CPU per second at 1,000 probes/s, against Chaos Toolkit's http probe.

Callers: humans (figures in ``docs/benchmarks.md``, "Probes"). A script, not a test. A real HTTP
server (aiohttp, ``GET /health`` → 200) runs in a process of its own on loopback, so its CPU is not
counted. Then:

- **Aftershock**: one :class:`~chaos.slo.monitoring.Monitor` with ``--probes`` HTTP probe SLOs every
  ``--interval`` (default 100 probes every 100 ms: 1,000 probes/s), each result waking a consumer that
  ticks the monitor (``probes_only``: what a run does), for ``--seconds``; measured: results per
  second and this process's CPU seconds per wall second (``time.process_time``; user and system
  time from ``os.times``, the kernel's tick-sampled split);
- **Chaos Toolkit** (1.x, ``chaoslib.provider.http.run_http_activity``, from the peer virtualenv of
  ``bench_peers.py``): the same request, ``--ctk-probes`` times in a loop in its own process (how its
  probes and safeguards run them); measured: CPU seconds per probe.

- with ``--bare``: **aiohttp alone** at the same rate (:func:`bare`), the floor of an aiohttp prober.

Reported: probes/s, CPU-s per s, CPU µs per probe for each, and the ratio to Chaos Toolkit.

    .venv/bin/python bench/bench_probes.py [--probes 100] [--interval 0.1] [--seconds 10] [--rounds 3] [--bare]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chaos.demo.prometheus import free_port
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.monitoring import Monitor

PEER_VENV = Path("/tmp/aftershock-bench-ctk")
SERVER = """
import sys
from aiohttp import web
async def health(request):
    return web.Response(text="healthy")
app = web.Application()
app.router.add_get("/health", health)
print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
CTK = """
import json, sys, time
from chaoslib.provider.http import run_http_activity
url, n = sys.argv[1], int(sys.argv[2])
activity = {"type": "probe", "name": "health", "provider": {"type": "http", "url": url, "method": "GET",
            "timeout": 1, "expected_status": 200}}
run_http_activity(activity, {}, {})  # warm (imports, first connection)
cpu, wall = time.process_time(), time.perf_counter()
for _ in range(n):
    run_http_activity(activity, {}, {})
print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "n": n}))
"""


def start_server(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.02)
    raise SystemExit("the HTTP server did not start")


async def aftershock(url: str, probes: int, interval: float, seconds: float) -> dict[str, float]:
    slos = [Slo.model_validate({"name": f"p{i}", "probe": {"http": {"url": url, "timeout": "1s"},
                                                           "interval": f"{int(interval * 1000)}ms"}})
            for i in range(probes)]
    woke = asyncio.Event()
    async with Monitor(MonitorSpec(), environ={}) as monitor:
        monitor.add("bench", slos, on_result=woke.set)
        ticks = failed = 0

        async def consume() -> None:
            nonlocal ticks, failed
            while True:
                await woke.wait()
                woke.clear()
                got = (await monitor.tick(time.time(), probes_only=True))["bench"]
                ticks += 1
                failed += sum(1 for v in got.verdicts if v.status == "breached")

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(1.0)  # warm: connections open, loops phased
        gc.freeze()  # as `aftershock run` does once its fault is injected (chaos.commands.run.CollectorPause)
        start_results = sum(loop.count for loop in monitor._probes["bench"].values())
        cpu, wall, split = time.process_time(), time.perf_counter(), os.times()
        await asyncio.sleep(seconds)
        cpu, wall, after = time.process_time() - cpu, time.perf_counter() - wall, os.times()
        gc.unfreeze()
        results = sum(loop.count for loop in monitor._probes["bench"].values()) - start_results
        consumer.cancel()
    return {"probes_per_s": results / wall, "cpu_s_per_s": cpu / wall, "cpu_us_per_probe": cpu / results * 1e6,
            "user_s_per_s": (after.user - split.user) / wall, "sys_s_per_s": (after.system - split.system) / wall,
            "ticks_per_s": ticks / wall, "breached_verdicts": failed}


async def bare(url: str, probes: int, interval: float, seconds: float) -> dict[str, float]:
    """The floor of this design: aiohttp alone at the same rate — ``probes`` keep-alive sessions, each
    a GET and a read every ``interval`` on ``asyncio.sleep``, no timeout, no judging, no monitor."""
    import aiohttp

    count = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal count
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
            count += 1
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))

    sessions = [aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) for _ in range(probes)]
    tasks = [asyncio.create_task(one(s)) for s in sessions]
    await asyncio.sleep(1.0)
    gc.freeze()
    start, cpu, wall = count, time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall, results = time.process_time() - cpu, time.perf_counter() - wall, count - start
    gc.unfreeze()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(s.close() for s in sessions))
    return {"probes_per_s": results / wall, "cpu_s_per_s": cpu / wall, "cpu_us_per_probe": cpu / results * 1e6}


def ctk(url: str, n: int) -> dict[str, float] | None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"(no Chaos Toolkit peer venv at {PEER_VENV}: run bench/bench_peers.py once to create it)")
        return None
    out = subprocess.run([str(python), "-c", CTK, url, str(n)], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return {"probes_per_s": found["n"] / found["wall"], "cpu_us_per_probe": found["cpu"] / found["n"] * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ctk-probes", type=int, default=2000)
    parser.add_argument("--bare", action="store_true",
                        help="also measure aiohttp alone at the same rate (the floor of this design)")
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/health"
    try:
        for r in range(args.rounds):
            ours = asyncio.run(aftershock(url, args.probes, args.interval, args.seconds))
            floor = asyncio.run(bare(url, args.probes, args.interval, args.seconds)) if args.bare else None
            peer = ctk(url, args.ctk_probes)
            line = (f"round {r + 1}: aftershock {ours['probes_per_s']:.0f} probes/s, {ours['cpu_s_per_s']:.3f} CPU-s/s "
                    f"(user {ours['user_s_per_s']:.3f} + sys {ours['sys_s_per_s']:.3f}), "
                    f"{ours['cpu_us_per_probe']:.0f} us/probe ({ours['ticks_per_s']:.0f} ticks/s, "
                    f"{ours['breached_verdicts']} breached), load {os.getloadavg()[0]:.1f}")
            if floor is not None:
                line += (f"; bare aiohttp {floor['probes_per_s']:.0f} requests/s, {floor['cpu_s_per_s']:.3f} CPU-s/s, "
                         f"{floor['cpu_us_per_probe']:.0f} us/request")
            if peer is not None:
                line += (f"; chaos toolkit http probe {peer['cpu_us_per_probe']:.0f} us/probe "
                         f"({peer['probes_per_s']:.0f}/s sequential): ratio x{peer['cpu_us_per_probe'] / ours['cpu_us_per_probe']:.2f}")
            print(line, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores shared)")


if __name__ == "__main__":
    main()
