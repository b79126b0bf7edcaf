"""The fault proxy's authenticated admin endpoint (aiohttp, loopback only) and its metrics server.

Started by ``python -m chaos.clients.host.proxy`` next to the proxy it controls; spoken to by
:class:`chaos.clients.host.admin_client.ProxyAdminClient` (run engine, ``aftershock recover``, TUI).
Every route but ``/metrics`` and ``/healthz`` needs ``Authorization: Bearer <token>``.

Routes (JSON): ``GET /faults``; ``POST /faults`` (a fault); ``PUT /faults/{id}`` (changed fault, returns
the previous one); ``DELETE /faults/{id}``; ``DELETE /runs/{run_id}``; ``GET /weights``;
``PUT /weights/{name}`` ``{"weight": N}`` (returns ``{"previous": M}``); ``GET /metrics``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from chaos import strict_json
from chaos.clients.host.metrics import ProxyMetrics
from chaos.clients.host.specs import ProxyFault
from chaos.errors import InvalidExperiment, TargetError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = frozenset({"/metrics", "/healthz"})


class FaultProxy(Protocol):
    """What the admin endpoint controls (:class:`chaos.clients.host.proxy.FaultProxy`; the proxy
    imports this module, never the reverse)."""

    http: bool
    metrics: ProxyMetrics

    def add_fault(self, fault: ProxyFault) -> None: ...
    def update_fault(self, fault: ProxyFault) -> ProxyFault: ...
    def remove_fault(self, fault_id: str) -> ProxyFault | None: ...
    def remove_run(self, run_id: str) -> list[ProxyFault]: ...
    def list_faults(self) -> list[ProxyFault]: ...
    def set_weight(self, name: str, weight: int, owner: str = "") -> int: ...
    def release_weight(self, name: str, owner: str) -> int | None: ...
    def weights(self) -> dict[str, int]: ...


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise TargetError(f"the proxy admin endpoint only listens on loopback, not {host!r}")


def _error(status: int, message: str, problems: list[dict[str, object]] | None = None) -> web.Response:
    return web.json_response({"error": message, "problems": problems or []}, status=status)


async def _json(request: web.Request) -> Any:
    """The request body as strict JSON (no NaN/Infinity, bounded nesting): a ValueError → 400."""
    return await request.json(loads=strict_json.loads)


class _Site:
    def __init__(self, app: web.Application, address: tuple[str, int]) -> None:
        _require_loopback(address[0])
        self._app = app
        self._address = address
        self._runner: web.AppRunner | None = None
        self._bound: tuple[str, int] | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._address[0], self._address[1])
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise TargetError(f"cannot listen on {self._address[0]}:{self._address[1]}: {exc}") from exc
        host, port = self._runner.addresses[0][:2]  # the bound address (port 0 asked for any)
        self._bound = (str(host), int(port))

    @property
    def address(self) -> tuple[str, int]:
        if self._bound is None:
            raise TargetError("server not started")
        return self._bound

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class MetricsServer(_Site):
    """Serves only ``/metrics`` of one proxy (the ``--metrics`` port)."""

    def __init__(self, proxy: FaultProxy, address: tuple[str, int]) -> None:
        app = web.Application()
        app.router.add_get("/metrics", _metrics_view(proxy))
        super().__init__(app, address)


def _metrics_view(proxy: FaultProxy) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/metrics`` handler of ``proxy`` (a coroutine function: aiohttp deprecates plain ones)."""

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=proxy.metrics.render(), content_type="text/plain", charset="utf-8")

    return metrics


class AdminServer(_Site):
    def __init__(self, proxy: FaultProxy, address: tuple[str, int], token: str) -> None:
        if len(token) < 16:
            raise TargetError("the admin token must be at least 16 characters")
        self._proxy = proxy
        self._token = f"Bearer {token}".encode()
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", _metrics_view(proxy))
        app.router.add_get("/faults", self._list)
        app.router.add_post("/faults", self._add)
        app.router.add_put("/faults/{id}", self._update)
        app.router.add_delete("/faults/{id}", self._remove)
        app.router.add_delete("/runs/{run_id}", self._remove_run)
        app.router.add_get("/weights", self._weights)
        app.router.add_put("/weights/{name}", self._set_weight)
        app.router.add_delete("/weights/{name}/holds/{owner}", self._release_weight)
        super().__init__(app, address)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PUBLIC:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self._token):
                return _error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except InvalidExperiment as exc:
            return _error(400, str(exc), [p.as_dict() for p in exc.problems])
        except TargetError as exc:
            return _error(409, str(exc))
        except ValueError as exc:
            return _error(400, f"bad JSON: {exc}")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "http": self._proxy.http})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": [f.to_dict() for f in self._proxy.list_faults()]})

    async def _add(self, request: web.Request) -> web.Response:
        fault = ProxyFault.from_dict(await _json(request))
        self._proxy.add_fault(fault)
        return web.json_response({"fault": fault.to_dict()}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        fault = ProxyFault.from_dict(await _json(request))
        if fault.id != request.match_info["id"]:
            return _error(400, f"fault id {fault.id!r} does not match the URL")
        previous = self._proxy.update_fault(fault)
        return web.json_response({"previous": previous.to_dict(), "fault": fault.to_dict()})

    async def _remove(self, request: web.Request) -> web.Response:
        removed = self._proxy.remove_fault(request.match_info["id"])
        return web.json_response({"removed": removed.to_dict() if removed else None})

    async def _remove_run(self, request: web.Request) -> web.Response:
        removed = self._proxy.remove_run(request.match_info["run_id"])
        return web.json_response({"removed": [f.to_dict() for f in removed]})

    async def _weights(self, request: web.Request) -> web.Response:
        return web.json_response({"weights": self._proxy.weights()})

    async def _set_weight(self, request: web.Request) -> web.Response:
        body = await _json(request)
        weight = body.get("weight") if isinstance(body, dict) else None
        owner = body.get("owner", "") if isinstance(body, dict) else ""
        if not isinstance(weight, int) or isinstance(weight, bool) or not isinstance(owner, str):
            return _error(400, 'expected {"weight": <integer 0-100>, "owner": <run id, optional>}')
        previous = self._proxy.set_weight(request.match_info["name"], weight, owner)
        return web.json_response({"previous": previous, "weights": self._proxy.weights()})

    async def _release_weight(self, request: web.Request) -> web.Response:
        now = self._proxy.release_weight(request.match_info["name"], request.match_info["owner"])
        return web.json_response({"released": now is not None, "weight": now, "weights": self._proxy.weights()})
