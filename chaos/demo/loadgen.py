"""Constant-arrival-rate load generator for the demo (``POST /orders`` at e.g. 20 req/s).

Runs inside the demo services process (:mod:`chaos.demo.services`) with a small control app:
``POST /start`` (optional ``{"rate": r}``), ``POST /stop``, ``GET /status``, ``GET /metrics``; used by
:class:`chaos.demo.stack.DemoStack` and ``aftershock demo``. Arrivals follow a fixed schedule
(open model); when ``concurrency`` requests are already in flight, an arrival is counted as dropped
instead of queued, so a slow service does not slow the offered load down.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class LoadGenerator:
    def __init__(self, url: str, rate: float = 20.0, concurrency: int = 32, timeout_s: float = 5.0) -> None:
        if rate <= 0 or concurrency <= 0:
            raise ValueError("rate and concurrency must be > 0")
        self.url = url
        self.rate = rate
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.registry = CollectorRegistry()
        self.requests = Counter("loadgen_requests_total", "Requests completed, by status code", ["code"],
                                registry=self.registry)
        self.errors = Counter("loadgen_errors_total", "Requests that failed without a status", ["kind"],
                              registry=self.registry)
        self.dropped = Counter("loadgen_dropped_total", "Arrivals skipped because concurrency was exhausted",
                               registry=self.registry)
        self.in_flight = Gauge("loadgen_in_flight", "Requests in flight", registry=self.registry)
        self.offered = Gauge("loadgen_rate", "Offered arrival rate (req/s)", registry=self.registry)
        self._task: asyncio.Task[None] | None = None
        self._flying: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, rate: float | None = None) -> None:
        if rate is not None:
            if rate <= 0:
                raise ValueError("rate must be > 0")
            self.rate = rate
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._flying):
            task.cancel()
        if self._flying:
            await asyncio.gather(*self._flying, return_exceptions=True)
        self.offered.set(0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            next_at = loop.time()
            while True:
                self.offered.set(self.rate)
                if len(self._flying) >= self.concurrency:
                    self.dropped.inc()
                else:
                    task = loop.create_task(self._one(client))
                    self._flying.add(task)
                    task.add_done_callback(self._flying.discard)
                next_at += 1.0 / self.rate
                await asyncio.sleep(max(0.0, next_at - loop.time()))  # the arrival schedule itself

    async def _one(self, client: httpx.AsyncClient) -> None:
        self.in_flight.inc()
        try:
            response = await client.post(self.url, json={"item": "demo", "amount": 1})
            self.requests.labels(str(response.status_code)).inc()
        except httpx.TimeoutException:
            self.errors.labels("timeout").inc()
        except httpx.HTTPError as exc:
            self.errors.labels(type(exc).__name__).inc()
        finally:
            self.in_flight.dec()


def loadgen_app(load: LoadGenerator) -> web.Application:
    async def start(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        rate = body.get("rate") if isinstance(body, dict) else None
        try:
            load.start(float(rate) if rate is not None else None)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"running": True, "rate": load.rate})

    async def stop(request: web.Request) -> web.Response:
        await load.stop()
        return web.json_response({"running": False})

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"running": load.running, "rate": load.rate, "url": load.url})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(load.registry), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_post("/start", start)
    app.router.add_post("/stop", stop)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    return app
