"""The asyncio fault proxy: ``listen → upstream(s)`` with faults added, shrunk and removed at run time.

:class:`FaultProxy` is the in-process API (used by the run engine for a proxy it hosts, by tests and by
the admin endpoint in :mod:`.admin`). ``python -m chaos.clients.host.proxy`` runs one proxy as its own
process (started by :class:`chaos.demo.stack.DemoStack` and by users of the host target); it prints one
JSON line ``{"ready": true, ...}`` on stdout once listening, and exits cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import ssl
import sys
from collections import Counter as Tally
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from chaos.clients.host.admin import AdminServer, MetricsServer
from chaos.clients.host.fastpath import ClientSide, UpstreamSide
from chaos.clients.host.faulttable import FaultTable
from chaos.clients.host.metrics import ProxyMetrics
from chaos.clients.host.routing import Router
from chaos.clients.host.sessions import ProxyContext
from chaos.clients.host.specs import FAULT_KINDS, ProxyFault, Upstream, split_address
from chaos.errors import ChaosError, TargetError


class FaultProxy:
    """A TCP (or, with ``http=True``, HTTP/1.1) proxy with run-time faults and upstream weights.

    ``listen`` is ``(host, port)`` (port 0 picks a free one; see :attr:`address`) or an already bound
    listening socket. Use as ``async with FaultProxy(...) as proxy:`` or ``start()`` / ``close()``.
    ``server_ssl`` (optional) terminates TLS on the listening side with that server context, so that
    HTTP faults apply to HTTPS clients (pair it with :attr:`Upstream.ssl` to re-originate TLS).
    """

    def __init__(self, listen: tuple[str, int] | socket.socket, upstreams: list[Upstream], *,
                 http: bool = False, seed: int | None = None, connect_timeout: float = 5.0,
                 server_ssl: ssl.SSLContext | None = None) -> None:
        self._listen = listen
        self._server_ssl = server_ssl
        self.http = http
        self.router = Router(upstreams)
        self.metrics = ProxyMetrics()
        self._rng = random.Random(seed)
        self._connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._table: FaultTable | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._live: set[ClientSide] = set()
        self._ctx: ProxyContext | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._table = FaultTable(loop)
        self._table.on_changed(self._update_gauge)
        self._update_gauge()
        self._ctx = ProxyContext(self._table, self.router, self.metrics, self._rng, self._connect_timeout)
        try:
            if isinstance(self._listen, socket.socket):
                self._server = await loop.create_server(self._accept, sock=self._listen, ssl=self._server_ssl)
            else:
                host, port = self._listen
                self._server = await loop.create_server(self._accept, host, port, reuse_address=True,
                                                        ssl=self._server_ssl)
        except OSError as exc:
            raise TargetError(f"fault proxy cannot listen on {self._listen}: {exc}") from exc

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise TargetError("the fault proxy is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def close(self) -> None:
        """Remove every fault, stop accepting and close every proxied connection."""
        if self._table is not None:
            self._table.clear()
        if self._server is not None:
            self._server.close()
        for side in list(self._live):
            side.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- control API -----------------------------------------------------------------------------

    @property
    def table(self) -> FaultTable:
        if self._table is None:
            raise TargetError("the fault proxy is not started")
        return self._table

    def add_fault(self, fault: ProxyFault) -> None:
        """Inject ``fault``; the proxy removes it by itself at ``fault.deadline``."""
        if fault.is_http and not self.http:
            raise TargetError(f"fault {fault.id!r} is {fault.kind}; this proxy is not in HTTP mode (--http)")
        if fault.upstream and fault.upstream not in self.router.weights():
            raise TargetError(f"fault {fault.id!r} names unknown upstream {fault.upstream!r}")
        self.table.add(fault)

    def update_fault(self, fault: ProxyFault) -> ProxyFault:
        """Change a fault's parameters (e.g. shrink); returns the previous spec. Connections stay up."""
        return self.table.update(fault)

    def remove_fault(self, fault_id: str) -> ProxyFault | None:
        """Remove a fault; returns it, or None when it was already gone."""
        return self.table.remove(fault_id)

    def remove_run(self, run_id: str) -> list[ProxyFault]:
        """Remove every fault of ``run_id``; returns what was removed."""
        return self.table.remove_run(run_id)

    def list_faults(self) -> list[ProxyFault]:
        return self.table.specs()

    def set_weight(self, name: str, weight: int, owner: str = "") -> int:
        """Set an upstream's weight (percent); returns the previous weight (``owner``: see
        :meth:`Router.set_weight`)."""
        return self.router.set_weight(name, weight, owner)

    def release_weight(self, name: str, owner: str) -> int | None:
        """End ``owner``'s hold on an upstream's weight (:meth:`Router.release`)."""
        return self.router.release(name, owner)

    def weights(self) -> dict[str, int]:
        return self.router.weights()

    async def wait_fault_gone(self, fault_id: str) -> None:
        """Return once ``fault_id`` was removed or expired."""
        await self.table.wait_gone(fault_id)

    # -- internals -------------------------------------------------------------------------------

    def _update_gauge(self) -> None:
        counts = Tally(str(f.kind) for f in self.table.specs())
        for kind in FAULT_KINDS:
            self.metrics.active.labels(kind).set(counts.get(kind, 0))

    def _accept(self) -> ClientSide:
        """A new client connection starts on the fast path (:mod:`.fastpath`)."""
        assert self._ctx is not None
        return ClientSide(self._ctx, self.http, self._spawn, self._live, self._open_upstream)

    def _spawn(self, session: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(session)
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _open_upstream(self, factory: Callable[[], UpstreamSide], upstream: Upstream
                             ) -> tuple[asyncio.BaseTransport, UpstreamSide]:
        """The fast path's upstream connection (the stream path opens its own in :mod:`.sessions`)."""
        loop = asyncio.get_running_loop()
        if upstream.ssl is None:
            return await loop.create_connection(factory, upstream.host, upstream.port)
        return await loop.create_connection(factory, upstream.host, upstream.port, ssl=upstream.ssl,
                                            server_hostname=upstream.server_hostname or upstream.host)


# -- process entry point ---------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chaos.clients.host.proxy",
                                     description="Aftershock fault proxy (host target).")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", help="host:port to listen on (port 0: pick a free one)")
    where.add_argument("--listen-fd", type=int, help="an inherited, bound and listening socket fd")
    parser.add_argument("--upstream", action="append", required=True,
                        help="name=host:port[,weight=N][,backup]; repeat for several")
    parser.add_argument("--admin", required=True, help="loopback host:port of the admin endpoint")
    parser.add_argument("--token-file", required=True, help="file holding the admin bearer token")
    parser.add_argument("--metrics", help="optional host:port serving only /metrics")
    parser.add_argument("--http", action="store_true", help="HTTP/1.1 mode (http-abort, http-delay)")
    parser.add_argument("--seed", type=int, help="random seed (tests)")
    parser.add_argument("--owner-pid", type=int,
                        help="a run-owned proxy: once this process is gone (even by kill -9), stop as soon as "
                             "no fault is left in it (each fault still ends at its own deadline)")
    return parser


def _stop_when_owner_gone(loop: asyncio.AbstractEventLoop, table: FaultTable, owner: int,
                          stop: asyncio.Event) -> None:
    """A run-owned proxy lives no longer than its run: its owner's pidfd becomes readable when the
    owner exits, whatever killed it; from then on the proxy stops once its fault table is empty."""
    def empty() -> None:
        if len(table) == 0:
            stop.set()

    def gone() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        table.on_changed(empty)
        empty()

    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:  # already gone
        table.on_changed(empty)
        empty()
        return
    loop.add_reader(pidfd, gone)


async def _serve(args: argparse.Namespace) -> int:
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    if not token:
        raise TargetError(f"token file {args.token_file} is empty")
    upstreams = [Upstream.parse(text) for text in args.upstream]
    listen: tuple[str, int] | socket.socket
    if args.listen_fd is not None:
        listen = socket.socket(fileno=args.listen_fd)
    else:
        listen = split_address(args.listen, "--listen")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with FaultProxy(listen, upstreams, http=args.http, seed=args.seed) as proxy:
        admin = AdminServer(proxy, split_address(args.admin, "--admin"), token)
        metrics = MetricsServer(proxy, split_address(args.metrics, "--metrics")) if args.metrics else None
        await admin.start()
        if args.owner_pid is not None:
            _stop_when_owner_gone(loop, proxy.table, args.owner_pid, stop)
        try:
            if metrics is not None:
                await metrics.start()
            ready = {"ready": True, "listen": _text(proxy.address), "admin": _text(admin.address),
                     "metrics": _text(metrics.address) if metrics else None, "http": args.http,
                     "upstreams": [u.name for u in upstreams]}
            print(json.dumps(ready), flush=True)
            await stop.wait()
        finally:
            if metrics is not None:
                await metrics.close()
            await admin.close()
    return 0


def _text(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (it halves the proxy's CPU per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve(args))
    except ChaosError as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        print(f"aftershock proxy: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        print(f"aftershock proxy: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
