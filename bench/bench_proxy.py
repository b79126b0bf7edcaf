"""Fault proxy overhead against a direct connection and against the real peers, in one run (a script,
not a test).

    .venv/bin/python bench/bench_proxy.py [--seconds 2] [--rounds 5] [--peers toxiproxy,haproxy]
                                          [--work-us 0] [--no-faulted] [--only NAMES] [--what KINDS]

Upstreams (a minimal keep-alive HTTP server and a bulk sender that writes until the reader leaves)
run in a child process; each proxy runs as its own process; the client is this process, all on
127.0.0.1. Contenders, each measured in every round right after a direct measurement and before the
next one (its ratio is against the mean of those two, so a noisy neighbour hits both sides):

- this proxy (``python -m chaos.clients.host.proxy``) in TCP mode and ``--http`` mode, and the same
  with a 0 ms ``latency`` fault active (the stream path with its delay queue engaged);
- the previous proxy: the one of commit :data:`BASELINE` (its ``chaos`` tree from ``git archive``);
- Toxiproxy :data:`TOXIPROXY_VERSION` (Shopify's Go fault proxy, TCP only), also with a 0 ms latency
  toxic; built once per machine from the Go module proxy into
  ``${XDG_CACHE_HOME:-~/.cache}/aftershock/toxiproxy-<version>/`` (the kube testbed's convention);
- HAProxy (Debian's package, ``nbthread 1`` like this proxy's one event loop) in ``mode http`` and
  ``mode tcp``.

Measurements are time-based: requests/s over 16 concurrent keep-alive connections for ``--seconds``;
bulk MB/s over one connection for ``--seconds``; p50 latency of sequential requests on one connection
for half of that. CPU per request / per GiB of each process (proxy, client, upstream) is read from
``/proc/PID/task/*/schedstat`` (nanoseconds on CPU, every thread), and the proxy's user/system split
from ``/proc/PID/stat`` over the whole run. ``--work-us N`` makes the HTTP upstream spend N µs of CPU
per request (a service that does some work, instead of an echo whose whole cost is its syscalls).
Peers that are missing are refused with how to get them (``--peers`` chooses them; ``none`` for none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.specs import ProxyFault

ROOT = Path(__file__).resolve().parents[1]
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
REQUEST = b"GET /pay HTTP/1.1\r\nHost: bench\r\n\r\n"
BLOCK = b"x" * (1 << 20)
CONNECTIONS = 16

BASELINE = "8a458c1"
"""The commit whose proxy is "the previous proxy" (main before this session's changes)."""
TOXIPROXY_VERSION = "v2.5.0"
TOXIPROXY_PACKAGE = "github.com/Shopify/toxiproxy/v2/cmd/server"
PEERS = ("toxiproxy", "haproxy")

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


class _Bulk(asyncio.Protocol):
    """Writes 1 MiB blocks for as long as the reader reads (flow control by pause/resume_writing)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.paused = False
        self._fill()

    def _fill(self) -> None:
        while not self.paused and not self.transport.is_closing():
            self.transport.write(BLOCK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._fill()

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.paused = True


def _upstreams(ports: multiprocessing.connection.Connection, work_s: float = 0.0) -> None:
    global WORK_S
    WORK_S = work_s

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet_double_close)
        http = await loop.create_server(_Http, "127.0.0.1", 0)
        bulk = await loop.create_server(_Bulk, "127.0.0.1", 0)
        ports.send((http.sockets[0].getsockname()[1], bulk.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the client ------------------------------------------------------------------------------------

async def _one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)


async def latency_p50(port: int, seconds: float) -> float:
    """Median seconds per request, sequential on one keep-alive connection (after 200 warm-up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(200):
        await _one_request(reader, writer)
    samples = []
    until = time.perf_counter() + seconds
    while (start := time.perf_counter()) < until:
        await _one_request(reader, writer)
        samples.append(time.perf_counter() - start)
    writer.close()
    return statistics.median(samples)


async def request_rate(port: int, seconds: float) -> tuple[float, int]:
    """(requests/s, requests) over CONNECTIONS keep-alive connections for ``seconds``."""
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS)]
    for reader, writer in streams:  # warm-up: every connection (and the proxy's upstream one) open
        await _one_request(reader, writer)
    done = [0]
    until = time.perf_counter() + seconds

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while time.perf_counter() < until:
            await _one_request(reader, writer)
            done[0] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    for _, writer in streams:
        writer.close()
    return done[0] / elapsed, done[0]


async def bulk_rate(port: int, seconds: float) -> tuple[float, int]:
    """(MB/s, bytes) read from the bulk sender over one connection for ``seconds``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    await reader.read(1 << 20)  # the stream is flowing
    got = 0
    start = time.perf_counter()
    until = start + seconds
    while time.perf_counter() < until:
        data = await reader.read(1 << 20)
        if not data:
            break
        got += len(data)
    elapsed = time.perf_counter() - start
    writer.transport.abort()  # unread bytes are pending: a close would be a RST anyway
    return got / elapsed / 1e6, got


# -- CPU of processes ------------------------------------------------------------------------------

def cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU of every live thread of ``pid`` (``/proc/PID/task/*/schedstat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def user_sys_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` so far (``/proc/PID/stat``, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- contenders ------------------------------------------------------------------------------------

@dataclass
class Contender:
    name: str
    pid: int | None  # the proxy process (None: direct)
    http_port: int | None  # requests go here (None: no request measurement)
    bulk_port: int | None  # bulk goes here (None: no bulk measurement)
    rps: list[float] = field(default_factory=list)
    rps_ratio: list[float] = field(default_factory=list)
    bulk: list[float] = field(default_factory=list)
    bulk_ratio: list[float] = field(default_factory=list)
    p50_added: list[float] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    cpu_req_ns: int = 0  # the proxy process, while requests ran
    cpu_bulk_ns: int = 0
    others_req_ns: int = 0  # client + upstream, while requests ran
    others_bulk_ns: int = 0
    user_sys_req: list[float] = field(default_factory=lambda: [0.0, 0.0])


async def _start_ours(upstream_port: int, http: bool, token_file: Path, code: Path | None = None
                      ) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """This proxy as its own process; ``code``: a source tree to run instead of this one."""
    argv = [sys.executable, "-m", "chaos.clients.host.proxy", "--listen", "127.0.0.1:0",
            "--upstream", f"up=127.0.0.1:{upstream_port}", "--admin", "127.0.0.1:0",
            "--token-file", str(token_file)] + (["--http"] if http else [])
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, env=env,
                                                cwd=str(code) if code is not None else None)
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    return proc, ready


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchError(Exception):
    """A peer the run asked for is not available; the message says how to get it."""


def toxiproxy_binary() -> Path:
    """Toxiproxy's server, built once per machine from the Go module proxy (pinned version)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    out = base / "aftershock" / f"toxiproxy-{TOXIPROXY_VERSION}"
    binary = out / "server"
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise BenchError("toxiproxy: no Go toolchain to build it (looked for `go` on PATH and "
                         "/usr/local/go/bin/go); install Go, or run with --peers haproxy / --peers none")
    out.mkdir(parents=True, exist_ok=True)
    print(f"building Toxiproxy {TOXIPROXY_VERSION} into {out} (once per machine) ...", flush=True)
    env = dict(os.environ, GOBIN=str(out), CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    proc = subprocess.run([go, "install", f"{TOXIPROXY_PACKAGE}@{TOXIPROXY_VERSION}"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not binary.exists():
        raise BenchError(f"toxiproxy: `go install {TOXIPROXY_PACKAGE}@{TOXIPROXY_VERSION}` failed:\n"
                         f"{proc.stderr.strip()}")
    return binary


def haproxy_binary() -> Path:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        raise BenchError("haproxy: not installed; `apt-get install haproxy` (Debian's package), or run "
                         "with --peers toxiproxy / --peers none")
    return Path(found)


def _api(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        result: dict[str, object] = json.loads(answer.read())
        return result


async def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise BenchError(f"{proc.args!r} does not listen on {port}")


async def start_toxiproxy(http_port: int, bulk_port: int
                          ) -> tuple[subprocess.Popen[bytes], list[tuple[str, int, int]]]:
    """One Toxiproxy server: plain proxies to both upstreams, and the same with a 0 ms latency toxic."""
    api_port = _free_port()
    proc = subprocess.Popen([str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(api_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await _wait_port(api_port, proc)
    api = f"http://127.0.0.1:{api_port}"
    ports: dict[str, int] = {}
    for name, upstream in (("http", http_port), ("bulk", bulk_port), ("http0", http_port), ("bulk0", bulk_port)):
        made = await asyncio.to_thread(_api, f"{api}/proxies", {"name": name, "listen": "127.0.0.1:0",
                                                                 "upstream": f"127.0.0.1:{upstream}"})
        ports[name] = _port(str(made["listen"]))
        if name.endswith("0"):
            for stream in ("downstream", "upstream"):
                await asyncio.to_thread(_api, f"{api}/proxies/{name}/toxics",
                                        {"name": f"zero-{stream}", "type": "latency", "stream": stream,
                                         "attributes": {"latency": 0, "jitter": 0}})
    return proc, [(f"Toxiproxy {TOXIPROXY_VERSION}", ports["http"], ports["bulk"]),
                  (f"Toxiproxy {TOXIPROXY_VERSION}, 0 ms latency toxic", ports["http0"], ports["bulk0"])]


async def start_haproxy(http_port: int, bulk_port: int, workdir: Path
                        ) -> tuple[subprocess.Popen[bytes], list[tuple[str, int, int | None]]]:
    """One HAProxy process (one thread): ``mode http`` and ``mode tcp`` to the HTTP upstream, ``mode
    tcp`` to the bulk sender."""
    ports = {name: _free_port() for name in ("http", "tcp", "bulk")}
    config = workdir / "haproxy.cfg"
    config.write_text(
        "global\n  nbthread 1\n  maxconn 1000\n"
        "defaults\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
        f"listen px-http\n  mode http\n  option http-keep-alive\n  bind 127.0.0.1:{ports['http']}\n"
        f"  server up 127.0.0.1:{http_port}\n"
        f"listen px-tcp\n  mode tcp\n  bind 127.0.0.1:{ports['tcp']}\n  server up 127.0.0.1:{http_port}\n"
        f"listen px-bulk\n  mode tcp\n  bind 127.0.0.1:{ports['bulk']}\n  server up 127.0.0.1:{bulk_port}\n")
    proc = subprocess.Popen([str(haproxy_binary()), "-db", "-f", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in ports.values():
        await _wait_port(port, proc)
    version = subprocess.run([str(haproxy_binary()), "-v"], capture_output=True, text=True).stdout.split()
    name = f"HAProxy {version[2].split('-')[0] if len(version) > 2 else ''}".strip()
    return proc, [(f"{name} mode http", ports["http"], None), (f"{name} mode tcp", ports["tcp"], ports["bulk"])]


async def add_zero_latency(admin_address: str, token: str) -> None:
    async with ProxyAdminClient(f"http://{admin_address}", token) as admin:
        await admin.add_fault(ProxyFault(id="zero", run_id="bench", kind="latency", deadline=time.time() + 86400,
                                         latency_ms=0, direction="both"))


# -- the run ---------------------------------------------------------------------------------------

def _spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


async def _measure(kind: str, port: int, seconds: float, proxy_pid: int | None, others: tuple[int, ...]
                   ) -> tuple[float, int, int, int, tuple[float, float]]:
    """(rate, units, proxy CPU ns, client + upstream CPU ns, proxy (user s, sys s)) of one measurement."""
    c0 = cpu_ns(proxy_pid) if proxy_pid else 0
    u0 = user_sys_s(proxy_pid) if proxy_pid else (0.0, 0.0)
    o0 = sum(cpu_ns(p) for p in others)
    run: Callable[[int, float], Awaitable[tuple[float, int]]] = request_rate if kind == "requests" else bulk_rate
    rate, units = await run(port, seconds)
    c1 = cpu_ns(proxy_pid) if proxy_pid else 0
    u1 = user_sys_s(proxy_pid) if proxy_pid else (0.0, 0.0)
    o1 = sum(cpu_ns(p) for p in others)
    return rate, units, c1 - c0, o1 - o0, (u1[0] - u0[0], u1[1] - u0[1])


def _quiet_double_close(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Python 3.11's selector transport may call ``_call_connection_lost`` twice when a closing
    transport with a pending write also sees a reset (the second call finds its protocol gone): the
    bulk sender, whose reader leaves with bytes in flight. Noise about the bench's own sockets, not
    about the contender; anything else is reported."""
    exc = context.get("exception")
    if isinstance(exc, AttributeError) and "_call_connection_lost" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


async def run(seconds: float, rounds: int, peers: list[str], work_us: float, faulted: bool,
              only: list[str], kinds: list[str]) -> None:
    asyncio.get_running_loop().set_exception_handler(_quiet_double_close)
    parent, child = multiprocessing.Pipe()
    upstream = multiprocessing.Process(target=_upstreams, args=(child, work_us / 1e6), daemon=True)
    upstream.start()
    http_port, bulk_port = parent.recv()
    assert upstream.pid is not None
    others = (os.getpid(), upstream.pid)
    workdir = Path(tempfile.mkdtemp(prefix="aftershock-bench-"))
    token = secrets.token_urlsafe(24)
    token_file = workdir / "token"
    token_file.write_text(token)
    ours: list[asyncio.subprocess.Process] = []
    theirs: list[subprocess.Popen[bytes]] = []
    try:
        previous = workdir / "previous"
        previous.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "chaos"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(previous)], input=archive, check=True)
        contenders = [Contender("direct", None, http_port, bulk_port)]
        variants: list[tuple[str, bool, Path | None, bool]] = [
            ("this proxy, TCP", False, None, False), ("this proxy, HTTP", True, None, False),
            (f"previous proxy ({BASELINE}), TCP", False, previous, False),
            (f"previous proxy ({BASELINE}), HTTP", True, previous, False)]
        if faulted:
            variants += [("this proxy, TCP, 0 ms fault", False, None, True),
                         ("this proxy, HTTP, 0 ms fault", True, None, True)]
        for name, http, code, fault in variants:
            proc, ready = await _start_ours(http_port, http, token_file, code)
            ours.append(proc)
            bport = None
            if not http:  # the bulk sender gets its own TCP-mode proxy process
                bproc, bready = await _start_ours(bulk_port, False, token_file, code)
                ours.append(bproc)
                bport = _port(bready["listen"])
            if fault:
                await add_zero_latency(ready["admin"], token)
                if not http:
                    await add_zero_latency(bready["admin"], token)
            contenders.append(Contender(name, proc.pid, _port(ready["listen"]), None))
            if bport is not None:
                contenders.append(Contender(name, bproc.pid, None, bport))
        if "toxiproxy" in peers:
            proc, made = await start_toxiproxy(http_port, bulk_port)
            theirs.append(proc)
            for name, hport, bport in made:
                if not faulted and "toxic" in name:
                    continue
                contenders.append(Contender(name, proc.pid, hport, bport))
        if "haproxy" in peers:
            proc, hmade = await start_haproxy(http_port, bulk_port, workdir)
            theirs.append(proc)
            for name, hport, hbport in hmade:
                contenders.append(Contender(name, proc.pid, hport, hbport))

        direct = contenders[0]
        proxied = [c for c in contenders[1:] if not only or any(o.lower() in c.name.lower() for o in only)]
        for c in proxied:
            if "requests" not in kinds:
                c.http_port = None
            if "bulk" not in kinds:
                c.bulk_port = None
        proxied = [c for c in proxied if c.http_port is not None or c.bulk_port is not None]
        print(f"contenders: {', '.join(sorted({c.name for c in proxied}))}", flush=True)
        for kind in kinds:
            for c in [direct, *proxied]:  # warm-up of every path (connections opened, caches filled)
                port = c.http_port if kind == "requests" else c.bulk_port
                if port is not None:
                    await (request_rate(port, 0.2) if kind == "requests" else bulk_rate(port, 0.2))
        for round_ in range(rounds):
            started = time.monotonic()
            for kind in kinds:
                attr = "http_port" if kind == "requests" else "bulk_port"
                todo = [c for c in proxied if getattr(c, attr) is not None]
                before = (await _measure(kind, getattr(direct, attr), seconds, None, others))
                for c in todo:
                    rate, units, proxy_ns, others_ns, (user, system) = await _measure(
                        kind, getattr(c, attr), seconds, c.pid, others)
                    after = await _measure(kind, getattr(direct, attr), seconds, None, others)
                    base = (before[0] + after[0]) / 2
                    if kind == "requests":
                        c.rps.append(rate)
                        c.rps_ratio.append(rate / base)
                        c.requests += units
                        c.cpu_req_ns += proxy_ns
                        c.others_req_ns += others_ns
                        c.user_sys_req[0] += user
                        c.user_sys_req[1] += system
                        direct.rps.append(after[0])
                        direct.requests += after[1]
                        direct.others_req_ns += after[3]
                    else:
                        c.bulk.append(rate)
                        c.bulk_ratio.append(rate / base)
                        c.bytes += units
                        c.cpu_bulk_ns += proxy_ns
                        c.others_bulk_ns += others_ns
                        direct.bulk.append(after[0])
                        direct.bytes += after[1]
                        direct.others_bulk_ns += after[3]
                    before = after
            for c in [c for c in proxied if c.http_port is not None]:
                d50 = await latency_p50(http_port, seconds / 4)
                p50 = await latency_p50(c.http_port or 0, seconds / 4)
                c.p50_added.append((p50 - d50) * 1e6)
            print(f"round {round_ + 1}/{rounds} done in {time.monotonic() - started:.0f} s, load average {load()}",
                  flush=True)
        report(direct, proxied, peers)
    finally:
        for p in ours:
            if p.returncode is None:
                p.terminate()
                await p.wait()
        for q in theirs:
            q.terminate()
            q.wait(5)
        upstream.terminate()
        upstream.join(5)
        shutil.rmtree(workdir, ignore_errors=True)


def report(direct: Contender, proxied: list[Contender], peers: list[str]) -> None:
    requests = [c for c in proxied if c.http_port is not None]
    bulk = [c for c in proxied if c.bulk_port is not None]
    direct_us = direct.others_req_ns / direct.requests / 1e3 if direct.requests else 0.0
    bulk_text = (f"; bulk {_spread(direct.bulk, 0)} MB/s, client + upstream CPU "
                 f"{direct.others_bulk_ns / 1e9 / (direct.bytes / 2**30):.2f} s/GiB" if direct.bytes else "")
    print(f"\ndirect: {_spread(direct.rps, 0)} req/s, client + upstream CPU {direct_us:.1f} us/request{bulk_text}")
    ref_names = [c.name for c in requests if c.name.startswith(("Toxiproxy", "HAProxy"))
                 and "toxic" not in c.name]
    if requests:
        print("\nrequests (16 keep-alive connections; ratios per round, median (range)):")
        header = ("| contender | req/s vs direct | " + " | ".join(f"vs {n}" for n in ref_names)
                  + " | added p50 µs | proxy CPU µs/request (user+sys) | all-process CPU direct ÷ this |")
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for c in requests:
            per_req = c.cpu_req_ns / c.requests / 1e3
            user_us = c.user_sys_req[0] / c.requests * 1e6
            sys_us = c.user_sys_req[1] / c.requests * 1e6
            all_proc = (c.others_req_ns + c.cpu_req_ns) / c.requests / 1e3
            vs = []
            for n in ref_names:
                ref = next(r for r in requests if r.name == n)
                vs.append(f"×{_spread([a / b for a, b in zip(c.rps, ref.rps, strict=True)])}" if c is not ref else "–")
            print(f"| {c.name} | ×{_spread(c.rps_ratio)} | " + " | ".join(vs)
                  + f" | {statistics.median(c.p50_added):+.0f} | {per_req:.1f} ({user_us:.1f}+{sys_us:.1f}) "
                  f"| ×{direct_us / all_proc:.2f} |")
    if bulk:
        bulk_refs = [c.name for c in bulk if c.name.startswith(("Toxiproxy", "HAProxy")) and "toxic" not in c.name]
        print("\nbulk (one connection, --seconds per measurement):")
        header = "| contender | MB/s vs direct | " + " | ".join(f"vs {n}" for n in bulk_refs) + " | proxy CPU s/GiB | all-process CPU direct ÷ this |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        direct_gib = direct.others_bulk_ns / direct.bytes
        for c in bulk:
            all_gib = (c.others_bulk_ns + c.cpu_bulk_ns) / c.bytes
            vs = []
            for n in bulk_refs:
                ref = next(r for r in bulk if r.name == n)
                vs.append(f"×{_spread([a / b for a, b in zip(c.bulk, ref.bulk, strict=True)])}"
                          if c is not ref else "–")
            print(f"| {c.name} | ×{_spread(c.bulk_ratio)} | " + " | ".join(vs)
                  + f" | {c.cpu_bulk_ns / 1e9 / (c.bytes / 2**30):.2f} | ×{direct_gib / all_gib:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated real peers to run: {', '.join(PEERS)}; or none")
    parser.add_argument("--work-us", type=float, default=0.0,
                        help="CPU microseconds the HTTP upstream spends per request (default 0: an echo)")
    parser.add_argument("--no-faulted", action="store_true", help="skip the 0 ms fault / toxic contenders")
    parser.add_argument("--only", default="", help="comma-separated name parts: run only the contenders "
                        "whose name holds one (e.g. 'this proxy,HAProxy')")
    parser.add_argument("--what", default="requests,bulk", help="requests, bulk, or both (default)")
    args = parser.parse_args()
    peers = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {', '.join(unknown)} (known: {', '.join(PEERS)}, or none)")
    try:
        if "toxiproxy" in peers:
            toxiproxy_binary()
        if "haproxy" in peers:
            haproxy_binary()
    except BenchError as exc:
        print(f"bench_proxy: {exc}", file=sys.stderr)
        return 2
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.seconds:g} s per measurement, "
          f"{args.rounds} rounds, upstream work {args.work_us:g} us/request, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load()}", flush=True)
    try:
        asyncio.run(run(args.seconds, args.rounds, peers, args.work_us, not args.no_faulted,
                        [o.strip() for o in args.only.split(",") if o.strip()],
                        [k for k in ("requests", "bulk") if k in args.what]))
    except BenchError as exc:
        print(f"bench_proxy: {exc}", file=sys.stderr)
        return 2
    print(f"load average at the end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
