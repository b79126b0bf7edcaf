"""The demo stack for real: services and fault proxy as child processes, orders through the proxy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.specs import ProxyFault
from chaos.demo.stack import DemoStack
from chaos.errors import TargetError


@pytest.fixture
async def stack() -> AsyncIterator[DemoStack]:
    async with DemoStack(load_rate=20, payment_timeout_s=0.3) as running:
        yield running


def metric(text: str, name_and_labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name_and_labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_order_fallback_and_metrics(stack: DemoStack) -> None:
    async with httpx.AsyncClient(timeout=5) as client, \
            ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        ok = await client.post(f"{stack.order_url}/orders", json={"item": "book"})
        assert ok.status_code == 200 and ok.json()["channel"] == "primary"

        deadline = time.time() + 30
        await admin.add_fault(ProxyFault(id="abort", run_id="demo-run", kind="http-abort", deadline=deadline,
                                         code=503, percent=100, path_prefix="/pay"))
        assert (await client.post(f"{stack.order_url}/orders")).status_code == 502
        await admin.remove_fault("abort")
        await admin.add_fault(ProxyFault(id="slow", run_id="demo-run", kind="http-delay", deadline=deadline,
                                         delay_ms=1000, percent=100))
        assert (await client.post(f"{stack.order_url}/orders")).status_code == 504

        switched = await client.post(stack.fallback_url, json={"channel": "backup"})
        assert switched.json() == {"channel": "backup", "previous": "primary"}
        assert (await client.get(stack.fallback_url)).json() == {"channel": "backup"}
        via_backup = await client.post(f"{stack.order_url}/orders")
        assert via_backup.status_code == 200 and via_backup.json()["payment"]["channel"] == "backup"
        assert [f.id for f in await admin.remove_run("demo-run")] == ["slow"]
        await client.post(stack.fallback_url, json={"channel": "primary"})
        assert (await client.post(f"{stack.order_url}/orders")).json()["channel"] == "primary"

        order_metrics = (await client.get(f"{stack.order_url}/metrics")).text
        assert metric(order_metrics, 'http_requests_total{code="502",service="order"}') >= 1
        assert metric(order_metrics, "payment_timeouts_total") >= 1
        assert 'http_request_duration_seconds_bucket{le="0.05",service="order"}' in order_metrics
        payment_metrics = (await client.get(f"http://{stack.endpoints.payment}/metrics")).text
        assert metric(payment_metrics,
                      'http_requests_total{channel="primary",code="200",service="payment-gateway"}') >= 1
        proxy_metrics = (await client.get(f"http://{stack.endpoints.proxy_metrics}/metrics")).text
        assert metric(proxy_metrics, 'aftershock_proxy_faults_injected_total{kind="http-abort"}') >= 1

        started = time.monotonic()  # the load generator runs on its own: bounded poll of its counter
        while time.monotonic() - started < 10:
            load = (await client.get(f"{stack.loadgen_url}/metrics")).text
            if metric(load, 'loadgen_requests_total{code="200"}') >= 5:
                break
            await asyncio.sleep(0.2)
        assert metric(load, 'loadgen_requests_total{code="200"}') >= 5

    targets = stack.scrape_targets()
    assert set(targets) == {"order-service", "payment-gateway", "loadgen", "fault-proxy"}


async def test_admin_refuses_wrong_token_and_weights(stack: DemoStack) -> None:
    async with ProxyAdminClient(stack.proxy_admin_url, "wrong-token-wrong-token") as bad:
        with pytest.raises(TargetError, match="401"):
            await bad.list_faults()
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        assert (await admin.weights())["payment-gateway"] == 100
        assert await admin.set_weight("payment-gateway", 0) == 100
        async with httpx.AsyncClient(timeout=5) as client:
            paid = (await client.post(f"{stack.order_url}/orders")).json()
        assert paid["payment"]["channel"] == "backup"  # circuit-break routed the primary path to backup


async def test_stack_tears_down_children() -> None:
    stack = DemoStack(start_load=False)
    async with stack:
        procs = list(stack._procs)
        assert all(p.returncode is None for p in procs)
    assert all(p.returncode is not None for p in procs)
    with pytest.raises(TargetError):
        _ = stack.order_url
