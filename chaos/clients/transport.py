"""HTTP/1.1 requests for the two clients a run needs before it injects: the fault proxy's admin API
(:mod:`chaos.clients.host.admin_client`) and Prometheus' instant queries
(:mod:`chaos.clients.prometheus`). The framing is h11's (the HTTP/1.1 state machine under httpcore
and httpx); this module only opens asyncio connections (TLS by asyncio's ``ssl``), keeps idle ones
for reuse, and bounds each phase with a timeout.

Why not httpx or httpcore here: ``import httpx`` also imports httpx's own command-line client (rich,
pygments, its cookie jar and ``urllib.request``), and httpcore on asyncio takes every lock through
anyio, whose asyncio back end is imported with the first request: together ~0.1 s of every run's
start-up before the fault is injected (``docs/benchmarks.md``). These clients use none of what they
add (redirects, cookies, proxies from the environment, content decoding, HTTP/2). httpx stays for
the HTTP actuator, the Alertmanager client and the demo, which are not on that path.

Errors: every failure to get an answer is a :class:`TransportError` — :class:`TimeoutException`
(connect, write, read, waiting for a free connection), :class:`ConnectError` (refused, DNS, TLS
handshake: "SSL" in its text), :class:`NetworkError` (the connection broke), :class:`ProtocolError`
(not HTTP/1.1 as h11 reads it, or an answer over :data:`MAX_ANSWER_BYTES`) and
:class:`UnsupportedProtocol` (not ``http://`` or ``https://``). A request that finds a kept
connection closed by the server before any answer is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from base64 import b64encode
from collections.abc import Mapping
from urllib.parse import urlsplit

import h11

from chaos.secrets import Secret, reveal
from chaos.version import __version__


class TransportError(Exception):
    """No answer: connecting, TLS, a timeout, the connection or the HTTP framing failed."""


class TimeoutException(TransportError):
    """A phase (connect, write, read, waiting for a free connection) took longer than its timeout."""


class ConnectError(TransportError):
    """Connection refused, DNS, and TLS handshake failures ("SSL" in its text)."""


class NetworkError(TransportError):
    """The connection broke while the request was sent or the answer read."""


class ProtocolError(TransportError):
    """The answer is not HTTP/1.1 as h11 reads it, or is larger than :data:`MAX_ANSWER_BYTES`."""


class UnsupportedProtocol(TransportError):
    """The URL is not ``http://`` or ``https://`` with a host."""


TIMEOUTS: tuple[type[Exception], ...] = (TimeoutException,)
"""Connect, read, write and pool timeouts."""
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (TransportError,)
"""Every failure to get an answer."""

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
"""Header values kept as :class:`~chaos.secrets.Secret` in a pool (never in its repr)."""
USER_AGENT = f"aftershock/{__version__}"
KEEPALIVE_S = 5.0
"""Idle kept connections are closed after this long (httpx's default)."""
MAX_ANSWER_BYTES = 64 * 2**20
"""An answer's body is read up to this size; a larger one is a :class:`ProtocolError` (the largest
batched Prometheus answer of a 10,000-SLO tick is a few hundred kB)."""
_READ = 64 * 1024
_CLOSE_WAIT_S = 1.0


class Answer:
    """One HTTP answer, read whole."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP basic auth (as httpx's ``BasicAuth`` builds it)."""
    return "Basic " + b64encode(f"{username}:{password}".encode()).decode("ascii")


class _Stale(Exception):
    """A kept connection was closed by the server before it answered anything."""


class _Connection:
    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return now - self.idle_since < KEEPALIVE_S and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


Origin = tuple[str, str, int]


class Pool:
    """Keep-alive HTTP/1.1 connections per origin; ``await pool.request(...)`` → :class:`Answer`;
    raises a :class:`TransportError`. ``ssl_context`` is used for ``https://`` URLs only. At most
    ``max_connections`` requests are in flight at once (one per connection)."""

    def __init__(self, ssl_context: ssl.SSLContext, *, headers: Mapping[str, str] | None = None,
                 max_connections: int = 10) -> None:
        self._ssl = ssl_context
        self._headers: list[tuple[str, str | Secret]] = [
            ("User-Agent", USER_AGENT), ("Accept", "*/*"),
            *((k, Secret(v) if k.lower() in CREDENTIAL_HEADERS else v) for k, v in (headers or {}).items())]
        self._max = max_connections
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False

    async def request(self, method: str, url: str, *, timeout: float, content: bytes | None = None,
                      headers: Mapping[str, str] | None = None) -> Answer:
        """``timeout`` bounds each phase (connect, write, read, waiting for a free connection), as
        httpx's ``timeout=`` does."""
        origin, target, host_header = _parse(url)
        sent = [*((k, reveal(v)) for k, v in self._headers), *(headers or {}).items()]
        if not any(k.lower() == "host" for k, _ in sent):  # a configured Host header is sent as it is, once
            sent.insert(0, ("Host", host_header))
        if content is not None:
            sent.append(("Content-Length", str(len(content))))
        slots = self._slots_of_this_loop()
        try:
            async with asyncio.timeout(timeout):
                await slots.acquire()
        except TimeoutError:
            raise TimeoutException(f"no free connection within {timeout:g}s") from None
        try:
            for attempt in (1, 2):
                conn = self._take(origin) if attempt == 1 else None  # a retry goes on a new connection
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(origin, timeout)
                try:
                    answer = await _exchange(conn, method, target, sent, content, timeout)
                except _Stale:
                    conn.close()
                    if reused and attempt == 1:
                        continue  # the server closed the kept connection before reading the request
                    raise NetworkError("the server closed the connection without answering") from None
                except BaseException:
                    conn.close()  # mid-request (an error, a timeout, cancellation): never reused
                    raise
                self._keep(origin, conn)
                return answer
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            slots.release()

    async def aclose(self) -> None:
        self._closed = True
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            conn.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_WAIT_S):
                    await conn.writer.wait_closed()

    def _slots_of_this_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or loop is not self._loop:  # first use, or a new event loop
            for conn in (c for conns in self._idle.values() for c in conns):  # the old loop's
                with contextlib.suppress(Exception):
                    conn.close()
            self._idle.clear()
            self._loop, self._slots = loop, asyncio.Semaphore(self._max)
        return self._slots

    def _take(self, origin: Origin) -> _Connection | None:
        kept = self._idle.get(origin)
        now = time.monotonic()
        while kept:
            conn = kept.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _keep(self, origin: Origin, conn: _Connection) -> None:
        state = conn.h11
        if self._closed or state.our_state is not h11.DONE or state.their_state is not h11.DONE:
            conn.close()  # the server ends the connection (Connection: close, HTTP/1.0), or the pool is closed
            return
        state.start_next_cycle()
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(conn)

    async def _connect(self, origin: Origin, timeout: float) -> _Connection:
        scheme, host, port = origin
        tls = scheme == "https"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if tls else None, server_hostname=host if tls else None, limit=_READ)
        except TimeoutError:
            raise TimeoutException(f"connecting to {host}:{port} took longer than {timeout:g}s") from None
        except OSError as exc:  # refused, DNS, TLS (ssl.SSLError is an OSError)
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)


def _parse(url: str) -> tuple[Origin, str, str]:
    """``(origin, request target, Host header)`` of an absolute ``http(s)://`` URL. The messages
    never quote the URL: it may carry credentials (user info, a token in its query)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsupportedProtocol(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsupportedProtocol(f"the URL's scheme {scheme or '(none)'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise UnsupportedProtocol("the URL has no host")
    default = 443 if scheme == "https" else 80
    port = default if port is None else port
    shown = f"[{host}]" if ":" in host else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, host, port), target, shown if port == default else f"{shown}:{port}"


async def _exchange(conn: _Connection, method: str, target: str, headers: list[tuple[str, str]],
                    content: bytes | None, timeout: float) -> Answer:
    """One request and its answer on ``conn``; raises :class:`_Stale` when the connection was closed
    before any byte of an answer came."""
    state = conn.h11
    try:
        data = state.send(h11.Request(method=method, target=target, headers=headers))
        if content:
            data += state.send(h11.Data(data=content))
        data += state.send(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:  # a header value with a line break, say
        raise ProtocolError(f"cannot send the request: {exc}") from None
    answered = False
    try:
        conn.writer.write(data or b"")
        async with asyncio.timeout(timeout):
            await conn.writer.drain()
    except TimeoutError:
        raise TimeoutException(f"sending the request took longer than {timeout:g}s") from None
    except OSError as exc:
        raise _Stale from exc
    status, body, size = 0, bytearray(), 0
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(f"the answer is not HTTP/1.1: {exc}") from None
        if event is h11.NEED_DATA:
            try:
                async with asyncio.timeout(timeout):
                    chunk = await conn.reader.read(_READ)
            except TimeoutError:
                raise TimeoutException(f"no answer within {timeout:g}s") from None
            except OSError as exc:
                if not answered:
                    raise _Stale from exc
                raise NetworkError(str(exc) or type(exc).__name__) from exc
            if not chunk and not answered:
                raise _Stale
            answered = True
            state.receive_data(chunk)  # b"": the server closed the connection
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_ANSWER_BYTES:
                raise ProtocolError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return Answer(status, bytes(body))
        # InformationalResponse (1xx) and ConnectionClosed after the end: nothing to keep
