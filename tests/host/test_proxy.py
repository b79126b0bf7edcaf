"""Real loopback traffic through the fault proxy: each fault kind measurably does what it says."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from chaos.errors import InvalidInput, TargetError
from host.conftest import BULK_SIZE, Server


def fault(kind: str, fid: str = "f1", run: str = "run-1", ttl: float = 30.0, **params: object) -> ProxyFault:
    return ProxyFault.from_dict({"id": fid, "run_id": run, "kind": kind, "deadline": time.time() + ttl, **params})


def within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture
async def tcp_proxy(echo_server: Server) -> AsyncIterator[FaultProxy]:
    upstream = Upstream("echo", echo_server.host, echo_server.port)
    async with FaultProxy(("127.0.0.1", 0), [upstream], seed=7) as proxy:
        yield proxy


@pytest.fixture
async def http_proxy(http_upstreams: dict[str, Server]) -> AsyncIterator[FaultProxy]:
    upstreams = [Upstream("payment-gateway", http_upstreams["primary"].host, http_upstreams["primary"].port),
                 Upstream("payment-backup", http_upstreams["backup"].host, http_upstreams["backup"].port,
                          backup=True)]
    async with FaultProxy(("127.0.0.1", 0), upstreams, http=True, seed=11) as proxy:
        yield proxy


async def round_trips(host: str, port: int, count: int) -> list[float]:
    reader, writer = await asyncio.open_connection(host, port)
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(b"ping")
            await writer.drain()
            assert await reader.readexactly(4) == b"ping"
            samples.append(time.perf_counter() - start)
    finally:
        writer.close()
    return samples


def url(proxy: FaultProxy, path: str = "/pay") -> str:
    host, port = proxy.address
    return f"http://{host}:{port}{path}"


async def test_passthrough_and_metrics(tcp_proxy: FaultProxy) -> None:
    samples = await round_trips(*tcp_proxy.address, 5)
    assert len(samples) == 5
    text = tcp_proxy.metrics.render().decode()
    assert 'aftershock_proxy_connections_total{upstream="echo"} 1.0' in text
    assert 'aftershock_proxy_bytes_total{direction="to"} 20.0' in text


async def test_latency_is_never_shorter_than_injected(tcp_proxy: FaultProxy, echo_server: Server) -> None:
    """Lower bounds only: a loaded machine can add delay, never remove it. The accuracy of the
    shift (median, spread) is measured by ``bench/bench_fault_accuracy.py``."""
    base = await round_trips(*tcp_proxy.address, 10)
    tcp_proxy.add_fault(fault("latency", latency_ms=60, jitter_ms=10, correlation=25))
    samples = await round_trips(*tcp_proxy.address, 15)
    assert all(s >= 0.050 - 0.002 for s in samples), samples  # latency - jitter, minus timer slack
    assert statistics.median(samples) > statistics.median(base)
    assert 'aftershock_faults_active{kind="latency"} 1.0' in tcp_proxy.metrics.render().decode()


async def test_bandwidth_throttle_never_exceeds_the_rate(bulk_server: Server) -> None:
    """An upper bound on throughput (a loaded machine only slows it further); accuracy is in bench/."""
    rate = 1_000_000
    async with FaultProxy(("127.0.0.1", 0), [Upstream("bulk", bulk_server.host, bulk_server.port)]) as proxy:
        proxy.add_fault(fault("bandwidth", rate_bytes_per_s=rate, direction="from"))
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"g")
        start = time.perf_counter()
        data = await reader.readexactly(BULK_SIZE)
        elapsed = time.perf_counter() - start
        writer.close()
    measured = len(data) / elapsed
    assert measured <= 1.2 * rate, measured  # 1.2: the token bucket's initial burst


def test_a_kind_the_proxy_does_not_have_is_refused() -> None:
    # "timeout" (accept, then hold) was never produced by a fault kind: it is not a proxy kind
    with pytest.raises(InvalidInput, match="kind"):
        fault("timeout")


@pytest.mark.parametrize("kind", ["reset", "partition", "loss"])
async def test_connection_faults_cut(tcp_proxy: FaultProxy, kind: str) -> None:
    tcp_proxy.add_fault(fault(kind, percent=100))
    reader, writer = await asyncio.open_connection(*tcp_proxy.address)
    writer.write(b"ping")
    try:
        got = await asyncio.wait_for(reader.read(10), 2)
    except ConnectionResetError:
        got = None
    assert got in (b"", None)
    if kind == "reset":
        assert got is None, "a reset must arrive as a RST"
    writer.close()
    assert f'aftershock_proxy_faults_injected_total{{kind="{kind}"}} 1.0' in tcp_proxy.metrics.render().decode()


async def test_fault_vanishes_at_deadline(tcp_proxy: FaultProxy) -> None:
    tcp_proxy.add_fault(fault("partition", ttl=0.4))
    removed: list[str] = []
    tcp_proxy.table.on_removed(lambda spec, reason: removed.append(reason))
    await asyncio.wait_for(tcp_proxy.wait_fault_gone("f1"), 3)
    assert removed == ["expired"] and tcp_proxy.list_faults() == []
    assert len(await round_trips(*tcp_proxy.address, 2)) == 2


async def test_refuses_past_deadline_and_duplicates(tcp_proxy: FaultProxy) -> None:
    with pytest.raises(TargetError, match="past"):
        tcp_proxy.add_fault(fault("latency", ttl=-1, latency_ms=5))
    tcp_proxy.add_fault(fault("latency", latency_ms=5))
    with pytest.raises(TargetError, match="already exists"):
        tcp_proxy.add_fault(fault("latency", latency_ms=5))
    with pytest.raises(TargetError, match="HTTP mode"):
        tcp_proxy.add_fault(fault("http-abort", fid="f2"))
    with pytest.raises(InvalidInput, match="percent"):
        fault("reset", percent=150)
    assert [f.id for f in tcp_proxy.remove_run("run-1")] == ["f1"]


async def test_http_abort_percentage_within_binomial_bounds(http_proxy: FaultProxy) -> None:
    http_proxy.add_fault(fault("http-abort", code=503, percent=30, method="POST", path_prefix="/pay"))
    codes: Counter[int] = Counter()
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            codes[(await client.post(url(http_proxy), json={"amount": 1})).status_code] += 1
        assert (await client.get(url(http_proxy))).status_code == 200  # method does not match
        assert (await client.post(url(http_proxy, "/other"))).status_code == 200  # path does not match
    assert set(codes) == {200, 503}
    assert within_binomial(codes[503], 400, 0.30), codes


async def test_http_delay_matches_path(http_proxy: FaultProxy) -> None:
    http_proxy.add_fault(fault("http-delay", delay_ms=150, path_prefix="/slow"))
    async with httpx.AsyncClient() as client:
        await client.get(url(http_proxy, "/warm"))
        start = time.perf_counter()
        assert (await client.get(url(http_proxy, "/slow/x"))).status_code == 200
        slow = time.perf_counter() - start
        assert (await client.get(url(http_proxy, "/fast"))).status_code == 200
    assert slow >= 0.15, slow
    # the fast path was not delayed: the proxy acted on exactly one request (no timing needed)
    assert 'aftershock_proxy_faults_injected_total{kind="http-delay"} 1.0' in http_proxy.metrics.render().decode()


async def test_weights_route_as_set(http_proxy: FaultProxy) -> None:
    async def tally(n: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        async with httpx.AsyncClient() as client:
            for _ in range(n):
                seen[(await client.post(url(http_proxy))).json()["upstream"]] += 1
        return seen

    assert await tally(20) == Counter({"primary": 20})
    assert http_proxy.set_weight("payment-gateway", 10) == 100
    seen = await tally(400)
    assert within_binomial(seen["primary"], 400, 0.10), seen
    assert http_proxy.set_weight("payment-gateway", 0) == 10
    assert await tally(20) == Counter({"backup": 20})
    assert http_proxy.weights() == {"payment-gateway": 0, "payment-backup": 100}
    with pytest.raises(TargetError, match="no upstream"):
        http_proxy.set_weight("nope", 1)


async def test_shrink_keeps_keepalive_connection(http_proxy: FaultProxy) -> None:
    http_proxy.add_fault(fault("latency", latency_ms=200))
    async with httpx.AsyncClient() as client:
        start = time.perf_counter()
        first = (await client.post(url(http_proxy))).json()
        assert time.perf_counter() - start >= 0.2
        previous = http_proxy.update_fault(fault("latency", latency_ms=5))
        assert previous.latency_ms == 200
        start = time.perf_counter()
        second = (await client.post(url(http_proxy))).json()
        assert http_proxy.update_fault(fault("latency", latency_ms=5)).latency_ms == 5  # what the 2nd request saw
    assert first["peer_port"] == second["peer_port"]  # same proxy→upstream connection
    text = http_proxy.metrics.render().decode()
    assert 'aftershock_proxy_connections_total{upstream="payment-gateway"} 1.0' in text


async def test_http_bodies_chunked_and_large(http_proxy: FaultProxy) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 100_000

    async with httpx.AsyncClient() as client:
        big = await client.post(url(http_proxy), content=b"z" * 3_000_000)
        chunked = await client.post(url(http_proxy), content=chunks())
        head = await client.head(url(http_proxy))
    assert big.json()["size"] == 3_000_000
    assert chunked.json()["size"] == 500_000
    assert head.status_code == 200


async def test_two_proxies_have_separate_registries(echo_server: Server) -> None:
    upstream = Upstream("echo", echo_server.host, echo_server.port)
    async with FaultProxy(("127.0.0.1", 0), [upstream]) as one, FaultProxy(("127.0.0.1", 0), [upstream]) as two:
        await round_trips(*one.address, 1)
        assert 'connections_total{upstream="echo"} 1.0' in one.metrics.render().decode()
        assert 'connections_total{upstream="echo"}' not in two.metrics.render().decode()
