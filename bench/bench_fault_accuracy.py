"""How accurate the host faults are (a script, not a test: these figures depend on the machine).

    .venv/bin/python bench/bench_fault_accuracy.py [--samples 200] [--kills 5]

- proxy latency: round trips through the in-process fault proxy to a loopback echo server, without
  and with a 60 ms ± 10 ms latency fault; prints the shift (median, p5, p95) against the baseline
  measured in the same run;
- proxy bandwidth: a 600 KiB download through a 1 MB/s bandwidth fault; measured / configured rate;
- kernel watchdog (root only, in a throwaway network namespace): a child adds an iptables rule with a
  3 s deadline and is SIGKILLed; how late after its deadline the watchdog removed the rule.

The tests (tests/host) assert only bounds a loaded machine cannot break (never faster than the
limit, never shorter than the injected delay, never removed before the deadline); this measures the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.clients.host.proxy import FaultProxy, Upstream
from chaos.clients.host.specs import ProxyFault

REPO = Path(__file__).resolve().parent.parent
BULK = 600 * 1024


def _fault(kind: str, **params: object) -> ProxyFault:
    return ProxyFault.from_dict({"id": kind, "run_id": "bench", "kind": kind, "deadline": time.time() + 600,
                                 **params})


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readexactly(1)
    writer.write(b"x" * BULK)
    await writer.drain()
    writer.close()


async def _round_trips(address: tuple[str, int], count: int) -> list[float]:
    reader, writer = await asyncio.open_connection(*address)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        writer.write(b"ping")
        await writer.drain()
        await reader.readexactly(4)
        out.append(time.perf_counter() - start)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.05)  # let the proxy see the close before it is shut down
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def proxy_figures(samples: int) -> dict[str, float]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    bulk = await asyncio.start_server(_bulk, "127.0.0.1", 0)
    out: dict[str, float] = {}
    async with echo, bulk:
        eport, bport = echo.sockets[0].getsockname()[1], bulk.sockets[0].getsockname()[1]
        async with FaultProxy(("127.0.0.1", 0), [Upstream("echo", "127.0.0.1", eport)]) as proxy:
            base = statistics.median(await _round_trips(proxy.address, samples))
            proxy.add_fault(_fault("latency", latency_ms=60, jitter_ms=10, correlation=25))
            shifts = [1000 * (s - base) for s in await _round_trips(proxy.address, samples)]
        out.update(latency_injected_ms=60.0, shift_median_ms=round(statistics.median(shifts), 2),
                   shift_p5_ms=round(_pct(shifts, 0.05), 2), shift_p95_ms=round(_pct(shifts, 0.95), 2))
        rate = 1_000_000
        async with FaultProxy(("127.0.0.1", 0), [Upstream("bulk", "127.0.0.1", bport)]) as proxy:
            proxy.add_fault(_fault("bandwidth", rate_bytes_per_s=rate, direction="from"))
            reader, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"g")
            start = time.perf_counter()
            data = await reader.readexactly(BULK)
            elapsed = time.perf_counter() - start
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.05)
        out["bandwidth_measured_over_configured"] = round(len(data) / elapsed / rate, 3)
    return out


CHILD = """
import signal, sys, time
from pathlib import Path
from chaos.clients.host.commands import Runner
from chaos.clients.host.iptables import IptablesFaults
deadline = time.time() + 3.0
IptablesFaults(Path(sys.argv[1]), Runner(sys.argv[2])).add_partition("bench", "cut", deadline, port=8443)
print(deadline, flush=True)
signal.pause()
"""


def watchdog_lateness(kills: int) -> list[float]:
    from chaos.clients.host.iptables import IptablesFaults
    from chaos.clients.host.netns import temporary_netns

    late = []
    with temporary_netns("bench", veth=True) as netns, tempfile.TemporaryDirectory() as tmp:
        assert netns.netns is not None
        faults = IptablesFaults(Path(tmp), netns)
        for _ in range(kills):
            child = subprocess.Popen([sys.executable, "-c", CHILD, tmp, netns.netns], stdout=subprocess.PIPE,
                                     text=True, cwd=REPO)
            assert child.stdout is not None
            deadline = float(child.stdout.readline())
            child.kill()
            child.wait()
            while faults.list_rules() and time.time() < deadline + 60:
                time.sleep(0.02)
            late.append(round(time.time() - deadline, 3))
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, object] = asyncio.run(proxy_figures(args.samples))  # type: ignore[assignment]
    if os.geteuid() == 0 and args.kills > 0:
        late = watchdog_lateness(args.kills)
        result["watchdog_late_s"] = late
        result["watchdog_late_max_s"] = max(late)
    else:
        result["watchdog_late_s"] = "needs root"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
