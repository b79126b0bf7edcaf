"""Fault proxy overhead against a direct connection, measured in the same run (a script, not a test).

    .venv/bin/python bench/bench_proxy.py [--requests 3000] [--bulk-mb 256] [--rounds 5] [--work-us 0]

Upstreams (a minimal keep-alive HTTP server and a bulk sender) run in a child process; the proxy runs
as its own process (``python -m chaos.clients.host.proxy``), as it does in production; the client is
this process. For small HTTP requests it prints p50/p99 added latency (sequential, one keep-alive
connection) and the requests/s ratio (16 concurrent connections); for bulk, MB/s. Each is measured with
no fault and with a 0 ms latency fault active (the delay queue engaged), in TCP and HTTP modes. The
ratios are per round — direct, then through the proxy, back to back — and the median of ``--rounds``
rounds is reported with its range, so a noisy neighbour on a shared machine hits both sides of a ratio.
``--work-us N`` makes the HTTP upstream spend N µs of CPU on each request before it answers (a service
that does some work, instead of an echo whose whole cost is its syscalls).
It also reports the proxy process' own CPU per request and per GiB (``/proc``), which other load on
the machine distorts less, and the CPU all processes of each path (client, upstream, proxy) spend per
request and per GiB: their ratio is the req/s ratio a CPU-saturated machine would show, and compares this proxy with the one of commit :data:`BASELINE` (its
``chaos`` tree from ``git archive``), alternating, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.specs import ProxyFault

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
REQUEST = b"GET /pay HTTP/1.1\r\nHost: bench\r\n\r\n"
BLOCK = b"x" * (1 << 20)


WORK_S = 0.0
"""CPU seconds the HTTP upstream spends per request (``--work-us``), set in the upstream process."""


def _work(count: int) -> None:
    until = time.process_time() + WORK_S * count
    while time.process_time() < until:
        pass


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4:]
            if WORK_S:
                _work(count)
            self.transport.write(RESPONSE * count)


def _upstreams(ports: multiprocessing.connection.Connection, bulk_bytes: int, work_s: float = 0.0) -> None:
    global WORK_S
    WORK_S = work_s

    async def bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        left = bulk_bytes
        while left > 0:
            writer.write(BLOCK[: min(left, len(BLOCK))])
            left -= len(BLOCK)
            await writer.drain()
        writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        http = await loop.create_server(_Http, "127.0.0.1", 0)
        bulk_server = await asyncio.start_server(bulk, "127.0.0.1", 0)
        ports.send((http.sockets[0].getsockname()[1], bulk_server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


async def _start_proxy(upstream_port: int, http: bool, token_file: Path, code: Path | None = None
                       ) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """The proxy as its own process; ``code``: a source tree to run instead of this one."""
    argv = [sys.executable, "-m", "chaos.clients.host.proxy", "--listen", "127.0.0.1:0",
            "--upstream", f"up=127.0.0.1:{upstream_port}", "--admin", "127.0.0.1:0",
            "--token-file", str(token_file)] + (["--http"] if http else [])
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, env=env,
                                                cwd=str(code) if code is not None else None)
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    return proc, ready


async def _one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)


async def latencies(port: int, count: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(200):  # warm-up
        await _one_request(reader, writer)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await _one_request(reader, writer)
        samples.append(time.perf_counter() - start)
    writer.close()
    return samples


async def throughput(port: int, count: int, connections: int = 16) -> float:
    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(n):
            await _one_request(reader, writer)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(count // connections) for _ in range(connections)))
    return (count // connections * connections) / (time.perf_counter() - start)


async def bulk_rate(port: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    got = 0
    start = time.perf_counter()
    while data := await reader.read(1 << 20):
        got += len(data)
    elapsed = time.perf_counter() - start
    writer.close()
    return got / elapsed / 1e6


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BASELINE = "cba2b88"
"""The commit whose proxy is "the previous proxy" (streams on asyncio's loop, before the Protocol fast
path and uvloop)."""


async def against_previous(http_port: int, bulk_port: int, token_file: Path, workdir: Path, requests: int,
                           bulk_mb: int, rounds: int) -> None:
    """This proxy against :data:`BASELINE`'s, alternating, no fault: req/s and the proxy's own CPU."""
    previous = workdir / "previous"
    previous.mkdir()
    archive = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "archive", BASELINE, "chaos"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(previous)], input=archive, check=True)
    print(f"\nagainst the previous proxy ({BASELINE}), no fault, {rounds} alternating rounds:")
    for http in (False, True):
        procs = {}
        for name, code in (("this", None), ("previous", previous)):
            proc, ready = await _start_proxy(http_port, http, token_file, code)
            bproc, bready = await _start_proxy(bulk_port, False, token_file, code)
            procs[name] = (proc, int(ready["listen"].rsplit(":", 1)[1]), bproc, int(bready["listen"].rsplit(":", 1)[1]))
        rps: dict[str, list[float]] = {"this": [], "previous": []}
        cpu = {"this": 0.0, "previous": 0.0}
        bulk_cpu = {"this": 0.0, "previous": 0.0}
        for _ in range(rounds):
            for name, (proc, port, bproc, bport) in procs.items():
                c0 = _cpu_s(proc.pid)
                rps[name].append(await throughput(port, requests * 2))
                cpu[name] += _cpu_s(proc.pid) - c0
                if not http:
                    c0 = _cpu_s(bproc.pid)
                    await bulk_rate(bport)
                    bulk_cpu[name] += _cpu_s(bproc.pid) - c0
        served = rounds * (requests * 2 // 16 * 16)
        ratio = [a / b for a, b in zip(rps["this"], rps["previous"], strict=True)]
        text = (f"  {'http' if http else 'tcp '}: req/s this/previous x{_spread(ratio)}; proxy CPU "
                f"{cpu['this'] / served * 1e6:.0f} us/request (previous {cpu['previous'] / served * 1e6:.0f})")
        if not http:
            gib = rounds * bulk_mb / 1024
            text += f"; bulk proxy CPU {bulk_cpu['this'] / gib:.2f} s/GiB (previous {bulk_cpu['previous'] / gib:.2f})"
        print(text, flush=True)
        for proc, _, bproc, _ in procs.values():
            for p in (proc, bproc):
                p.terminate()
                await p.wait()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu_of(pids: tuple[int, ...]) -> float:
    return sum(_cpu_s(pid) for pid in pids)


def _spread(ratios: list[float]) -> str:
    """Median ratio with its range over the rounds."""
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def _pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if q < 100 else max(samples)


async def run(requests: int, bulk_mb: int, rounds: int, work_us: float = 0.0) -> None:
    parent, child = multiprocessing.Pipe()
    upstream = multiprocessing.Process(target=_upstreams, args=(child, bulk_mb * (1 << 20), work_us / 1e6),
                                       daemon=True)
    upstream.start()
    http_port, bulk_port = parent.recv()
    upstream_pid = upstream.pid
    assert upstream_pid is not None
    workdir = Path(tempfile.mkdtemp(prefix="aftershock-bench-"))
    token = secrets.token_urlsafe(24)
    token_file = workdir / "token"
    token_file.write_text(token)
    procs: list[asyncio.subprocess.Process] = []
    try:
        direct_lat = await latencies(http_port, requests)
        direct_rps = await throughput(http_port, requests * 2)
        direct_bulk = await bulk_rate(bulk_port)
        print(f"direct: p50 {_pct(direct_lat, 50) * 1e6:.0f} us, p99 {_pct(direct_lat, 99) * 1e6:.0f} us, "
              f"{direct_rps:.0f} req/s, bulk {direct_bulk:.0f} MB/s")
        for http in (False, True):
            proc, ready = await _start_proxy(http_port, http, token_file)
            bulk_proc, bulk_ready = await _start_proxy(bulk_port, False, token_file)
            procs += [proc, bulk_proc]
            port = int(ready["listen"].rsplit(":", 1)[1])
            bport = int(bulk_ready["listen"].rsplit(":", 1)[1])
            for faulted in (False, True):
                if faulted:
                    for admin_address in (ready["admin"], bulk_ready["admin"]):
                        async with ProxyAdminClient(f"http://{admin_address}", token) as admin:
                            await admin.add_fault(ProxyFault(id="zero", run_id="bench", kind="latency",
                                                             deadline=time.time() + 600, latency_ms=0,
                                                             direction="both"))
                lat = await latencies(port, requests)
                rps_ratios, bulk_ratios = [], []
                req_cpu = bulk_cpu = 0.0
                everyone = [0.0, 0.0, 0.0, 0.0]  # CPU of all processes: proxied, direct requests; proxied, direct bulk
                pids = (os.getpid(), upstream_pid)
                for _ in range(rounds):
                    c0, a0 = _cpu_s(proc.pid), _cpu_of(pids)
                    proxied = await throughput(port, requests * 2)
                    req_cpu += _cpu_s(proc.pid) - c0
                    everyone[0] += _cpu_of(pids) - a0 + _cpu_s(proc.pid) - c0
                    a0 = _cpu_of(pids)
                    rps_ratios.append(proxied / await throughput(http_port, requests * 2))
                    everyone[1] += _cpu_of(pids) - a0
                    if not http:
                        c0, a0 = _cpu_s(bulk_proc.pid), _cpu_of(pids)
                        proxied = await bulk_rate(bport)
                        bulk_cpu += _cpu_s(bulk_proc.pid) - c0
                        everyone[2] += _cpu_of(pids) - a0 + _cpu_s(bulk_proc.pid) - c0
                        a0 = _cpu_of(pids)
                        bulk_ratios.append(proxied / await bulk_rate(bulk_port))
                        everyone[3] += _cpu_of(pids) - a0
                served = rounds * (requests * 2 // 16 * 16)
                label = f"proxy {'http' if http else 'tcp '} {'0ms-latency fault' if faulted else 'no fault        '}"
                added50 = (_pct(lat, 50) - _pct(direct_lat, 50)) * 1e6
                added99 = (_pct(lat, 99) - _pct(direct_lat, 99)) * 1e6
                bulk_text = (f", bulk x{_spread(bulk_ratios)}, proxy CPU {bulk_cpu / (rounds * bulk_mb / 1024):.2f} s/GiB"
                             if not http else "")
                print(f"{label}: added p50 {added50:+.0f} us, p99 {added99:+.0f} us, "
                      f"req/s x{_spread(rps_ratios)}, proxy CPU {req_cpu / served * 1e6:.0f} us/request{bulk_text}",
                      flush=True)
                gib = rounds * bulk_mb / 1024
                bulk_all = (f"; bulk {everyone[3] / gib:.2f} vs {everyone[2] / gib:.2f} s/GiB"
                            f" (x{everyone[3] / everyone[2]:.2f})" if not http else "")
                print(f"    CPU of client + upstream (+ proxy), direct vs proxied: "
                      f"{everyone[1] / served * 1e6:.0f} vs {everyone[0] / served * 1e6:.0f} us/request"
                      f" (x{everyone[1] / everyone[0]:.2f}){bulk_all}", flush=True)
            for p in (proc, bulk_proc):
                p.terminate()
                await p.wait()
        await against_previous(http_port, bulk_port, token_file, workdir, requests, bulk_mb, rounds)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        upstream.terminate()
        upstream.join(5)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--bulk-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work-us", type=float, default=0.0,
                        help="CPU microseconds the HTTP upstream spends per request (default 0: an echo)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.requests} requests, "
          f"{args.bulk_mb} MiB bulk, {args.rounds} alternating rounds, upstream work {args.work_us:g} us/request, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {_load()}")
    asyncio.run(run(args.requests, args.bulk_mb, args.rounds, args.work_us))
    print(f"load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
