"""Demo services for ``aftershock demo``: payment gateway (primary + backup) and order service.

All run on one asyncio loop in one process (``python -m chaos.demo.services --config JSON``, started by
:class:`chaos.demo.stack.DemoStack`), loopback only (``--host 0.0.0.0`` in a pod, as on the node
testbed), each on its own port with its own ``/metrics``
(own, non-global Prometheus registries). The order service pays through ``payment_url`` (the fault
proxy) unless switched to the backup channel via ``POST /fallback {"channel": "backup"}``, which calls
the backup gateway directly. The optional load generator (:mod:`chaos.demo.loadgen`) runs here too.
Prints one JSON line ``{"ready": true, ...}`` with the bound addresses, exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields, replace

import httpx
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chaos.demo.loadgen import LoadGenerator, loadgen_app

ORDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
CHANNELS = ("primary", "backup")


@dataclass(frozen=True)
class ServicesConfig:
    host: str = "127.0.0.1"
    payment_port: int = 0
    backup_port: int = 0
    order_port: int = 0
    loadgen_port: int = 0
    payment_url: str = ""
    """Where the order service reaches the primary gateway (the fault proxy); "" = directly."""
    payment_timeout_s: float = 1.0
    service_time_ms: tuple[float, float] = (5.0, 20.0)
    load_rate: float = 20.0
    load_concurrency: int = 32
    load_autostart: bool = False

    @classmethod
    def from_json(cls, text: str) -> ServicesConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "service_time_ms" in data:
            data["service_time_ms"] = tuple(data["service_time_ms"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    return metrics


def payment_app(channel: str, service_time_ms: tuple[float, float], rng: random.Random) -> web.Application:
    """``POST /pay`` → 200 JSON after a 5-20 ms service time; ``GET /health``; ``GET /metrics``."""
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "Payment requests", ["service", "channel", "code"],
                       registry=registry)
    duration = Histogram("http_request_duration_seconds", "Payment request duration", ["service", "channel"],
                         registry=registry)
    ids = itertools.count(1)

    async def pay(request: web.Request) -> web.Response:
        start = time.perf_counter()
        await request.read()
        await asyncio.sleep(rng.uniform(*service_time_ms) / 1000.0)  # simulated service time
        requests.labels("payment-gateway", channel, "200").inc()
        duration.labels("payment-gateway", channel).observe(time.perf_counter() - start)
        return web.json_response({"status": "paid", "channel": channel, "payment": next(ids)})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "channel": channel})

    app = web.Application()
    app.router.add_post("/pay", pay)
    app.router.add_get("/health", health)  # what the circuit-break demo's HTTP probe asks
    app.router.add_get("/metrics", _metrics_handler(registry))
    return app


class OrderService:
    """``POST /orders`` pays via the current channel; ``GET|POST /fallback`` reads / switches it."""

    def __init__(self, primary_url: str, backup_url: str, timeout_s: float) -> None:
        self.urls = {"primary": primary_url.rstrip("/"), "backup": backup_url.rstrip("/")}
        self.channel = "primary"
        self.timeout_s = timeout_s
        self.registry = CollectorRegistry()
        self.duration = Histogram("http_request_duration_seconds", "Order request duration", ["service"],
                                  buckets=ORDER_BUCKETS, registry=self.registry).labels("order")
        self.requests = Counter("http_requests_total", "Order requests", ["service", "code"],
                                registry=self.registry)
        self.timeouts = Counter("payment_timeouts_total", "Payment calls that timed out", registry=self.registry)
        self.channel_gauge = Gauge("payment_channel_backup", "1 while orders pay via the backup channel",
                                   registry=self.registry)
        self._client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/orders", self.order)
        app.router.add_get("/fallback", self.get_fallback)
        app.router.add_post("/fallback", self.set_fallback)
        app.router.add_get("/metrics", _metrics_handler(self.registry))
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _app: web.Application) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout_s,
                                         limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    async def _close(self, _app: web.Application) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def order(self, request: web.Request) -> web.Response:
        start = time.perf_counter()
        await request.read()
        code, body = await self._pay()
        self.requests.labels("order", str(code)).inc()
        self.duration.observe(time.perf_counter() - start)
        return web.json_response(body, status=code)

    async def _pay(self) -> tuple[int, dict[str, object]]:
        assert self._client is not None
        channel = self.channel
        order_id = next(self._ids)
        try:
            response = await self._client.post(f"{self.urls[channel]}/pay", json={"order": order_id})
        except httpx.TimeoutException:
            self.timeouts.inc()
            return 504, {"error": "payment timed out", "channel": channel}
        except httpx.HTTPError as exc:
            return 502, {"error": f"payment failed: {type(exc).__name__}", "channel": channel}
        if response.status_code >= 500:
            return 502, {"error": f"payment answered {response.status_code}", "channel": channel}
        if response.status_code >= 400:
            return 500, {"error": f"payment refused ({response.status_code})", "channel": channel}
        return 200, {"order": order_id, "channel": channel, "payment": response.json()}

    async def get_fallback(self, request: web.Request) -> web.Response:
        return web.json_response({"channel": self.channel})

    async def set_fallback(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        channel = body.get("channel") if isinstance(body, dict) else None
        if channel not in CHANNELS:
            return web.json_response({"error": 'expected {"channel": "primary" | "backup"}'}, status=400)
        previous, self.channel = self.channel, str(channel)
        self.channel_gauge.set(1 if self.channel == "backup" else 0)
        return web.json_response({"channel": self.channel, "previous": previous})


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0]
    return runner, f"{bound[0]}:{bound[1]}"


async def serve(config: ServicesConfig, stop: asyncio.Event, any_address: bool = False) -> None:
    """Run every demo service until ``stop`` is set; prints the ready line once all listen. Loopback
    only, unless ``any_address`` (``--host``: in a pod, where the pod's own IP must answer)."""
    if not any_address and not config.host.startswith("127.") and config.host != "localhost":
        raise ValueError("demo services listen on loopback only (in a pod: --host 0.0.0.0)")
    rng = random.Random()
    runners: list[web.AppRunner] = []
    try:
        primary_runner, primary = await _start(payment_app("primary", config.service_time_ms, rng),
                                               config.host, config.payment_port)
        runners.append(primary_runner)
        backup_runner, backup = await _start(payment_app("backup", config.service_time_ms, rng),
                                             config.host, config.backup_port)
        runners.append(backup_runner)
        orders = OrderService(config.payment_url or f"http://{primary}", f"http://{backup}",
                              config.payment_timeout_s)
        order_runner, order = await _start(orders.app(), config.host, config.order_port)
        runners.append(order_runner)
        load = LoadGenerator(f"http://{order}/orders", rate=config.load_rate,
                             concurrency=config.load_concurrency)
        load_runner, load_address = await _start(loadgen_app(load), config.host, config.loadgen_port)
        runners.append(load_runner)
        if config.load_autostart:
            load.start()
        print(json.dumps({"ready": True, "payment": primary, "backup": backup, "order": order,
                          "loadgen": load_address}), flush=True)
        await stop.wait()
        await load.stop()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.demo.services")
    parser.add_argument("--config", default="{}", help="ServicesConfig as JSON")
    parser.add_argument("--host", default=None,
                        help="listen address (default: the config's, loopback); e.g. 0.0.0.0 in a pod")
    args = parser.parse_args(argv)
    try:
        config = ServicesConfig.from_json(args.config)
        if args.host is not None:
            config = replace(config, host=args.host)
    except (ValueError, TypeError) as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(config, stop, any_address=args.host is not None)

    try:
        asyncio.run(run())
    except (OSError, ValueError) as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
