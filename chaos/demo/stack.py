"""``DemoStack``: the demo services and the fault proxy as two child processes on loopback.

Callers: ``aftershock demo`` and the end-to-end tests. ``async with DemoStack() as stack:`` starts
``python -m chaos.demo.services`` (one asyncio loop for all services) and
``python -m chaos.clients.host.proxy --http`` with upstreams ``payment-gateway`` (primary, weight 100)
and ``payment-backup`` (backup). Readiness is awaited by reading each child's ``{"ready": true}`` line.
The proxy's listening socket is bound here first and handed to the proxy (``--listen-fd``), so the
order service knows the proxy address before either child starts, and no port can be stolen in between.
Teardown terminates both children, then kills them after a bound, even on error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from chaos.demo.lifeline import die_with_parent, owned_tempdir
from chaos.demo.services import ServicesConfig
from chaos.errors import TargetError

STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class DemoEndpoints:
    """``host:port`` addresses of everything the stack runs."""

    order: str
    payment: str
    backup: str
    loadgen: str
    proxy: str
    proxy_admin: str
    proxy_metrics: str


class DemoStack:
    def __init__(self, *, load_rate: float = 20.0, start_load: bool = True, payment_timeout_s: float = 1.0,
                 host: str = "127.0.0.1", ready_timeout_s: float = 30.0) -> None:
        self.load_rate = load_rate
        self.start_load = start_load
        self.payment_timeout_s = payment_timeout_s
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.proxy_token = secrets.token_urlsafe(24)
        self._workdir: Path | None = None
        self._procs: list[asyncio.subprocess.Process] = []
        self._endpoints: DemoEndpoints | None = None

    # -- what callers use ------------------------------------------------------------------------

    @property
    def endpoints(self) -> DemoEndpoints:
        if self._endpoints is None:
            raise TargetError("the demo stack is not running")
        return self._endpoints

    @property
    def order_url(self) -> str:
        return f"http://{self.endpoints.order}"

    @property
    def fallback_url(self) -> str:
        """Where a ``degrade`` policy switches channels (``POST {"channel": "backup"}``)."""
        return f"http://{self.endpoints.order}/fallback"

    @property
    def proxy_admin_url(self) -> str:
        return f"http://{self.endpoints.proxy_admin}"

    @property
    def loadgen_url(self) -> str:
        return f"http://{self.endpoints.loadgen}"

    def scrape_targets(self) -> dict[str, list[str]]:
        """Prometheus jobs → ``host:port`` (the shape :class:`chaos.demo.prometheus` accepts)."""
        e = self.endpoints
        return {"order-service": [e.order], "payment-gateway": [e.payment, e.backup],
                "loadgen": [e.loadgen], "fault-proxy": [e.proxy_metrics]}

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> DemoStack:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _start(self) -> None:
        self._workdir = owned_tempdir("demo")
        token_file = self._workdir / "proxy-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.proxy_token)
        listener = socket.create_server((self.host, 0), backlog=512)
        try:
            proxy_address = f"{self.host}:{listener.getsockname()[1]}"
            config = ServicesConfig(host=self.host, payment_url=f"http://{proxy_address}",
                                    payment_timeout_s=self.payment_timeout_s, load_rate=self.load_rate)
            services = await self._spawn("services", [sys.executable, "-m", "chaos.demo.services",
                                                      "--config", config.to_json()])
            proxy = await self._spawn("proxy", [
                sys.executable, "-m", "chaos.clients.host.proxy", "--listen-fd", str(listener.fileno()),
                "--upstream", f"payment-gateway={services['payment']},weight=100",
                "--upstream", f"payment-backup={services['backup']},backup",
                "--admin", f"{self.host}:0", "--token-file", str(token_file),
                "--metrics", f"{self.host}:0", "--http"], pass_fds=(listener.fileno(),))
        finally:
            listener.close()
        self._endpoints = DemoEndpoints(order=str(services["order"]), payment=str(services["payment"]),
                                        backup=str(services["backup"]), loadgen=str(services["loadgen"]),
                                        proxy=str(proxy["listen"]), proxy_admin=str(proxy["admin"]),
                                        proxy_metrics=str(proxy["metrics"]))
        if self.start_load:
            await self.set_load(self.load_rate)

    async def set_load(self, rate: float | None) -> None:
        """Start the load generator at ``rate`` req/s, or stop it with None."""
        path, body = ("/stop", None) if rate is None else ("/start", {"rate": rate})
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                (await client.post(f"{self.loadgen_url}{path}", json=body)).raise_for_status()
        except httpx.HTTPError as exc:
            raise TargetError(f"demo load generator: {exc}") from exc

    async def _spawn(self, name: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> dict[str, object]:
        assert self._workdir is not None
        log = (self._workdir / f"{name}.log").open("wb")
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=log,
                                                        stdin=asyncio.subprocess.DEVNULL, pass_fds=pass_fds,
                                                        preexec_fn=die_with_parent())
        except OSError as exc:
            raise TargetError(f"demo {name} could not start: {exc}") from exc
        finally:
            log.close()
        self._procs.append(proc)
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(self.ready_timeout_s):
                line = await proc.stdout.readline()
        except TimeoutError as exc:
            raise TargetError(f"demo {name} not ready after {self.ready_timeout_s}s; {self._tail(name)}") from exc
        try:
            ready = json.loads(line)
        except ValueError:
            ready = {}
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            raise TargetError(f"demo {name} failed to start: {line.decode(errors='replace').strip()} "
                              f"{self._tail(name)}")
        return ready

    def _tail(self, name: str) -> str:
        assert self._workdir is not None
        try:
            text = (self._workdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return f"log: {text[-800:]}" if text else ""

    async def close(self) -> None:
        """Terminate the children (SIGTERM, then SIGKILL after a bound) and remove the work dir."""
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in procs:
            try:
                async with asyncio.timeout(STOP_GRACE_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._endpoints = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
