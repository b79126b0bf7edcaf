"""HTTP requests over ``httpcore`` (the connection pool httpx itself sends through) for the two
clients a run needs before it injects: the fault proxy's admin API
(:mod:`chaos.clients.host.admin_client`) and Prometheus' instant queries
(:mod:`chaos.clients.prometheus`).

Why not httpx here: ``import httpx`` also imports httpx's own command-line client (rich, pygments,
its cookie jar and ``urllib.request``, ~50 ms of every run's start-up before the fault is
injected), and these clients use none of what httpx adds to httpcore (redirects, cookies, proxies
from the environment, content decoding). httpx stays for the HTTP actuator, the Alertmanager
client and the demo, which are not on that path. The errors keep httpx's text: httpx raises its
own class with ``str()`` of the same httpcore error, so messages built from them read the same.
"""

from __future__ import annotations

import ssl
from base64 import b64encode
from collections.abc import Mapping

import httpcore

from chaos.secrets import Secret, reveal
from chaos.version import __version__

TIMEOUTS: tuple[type[Exception], ...] = (httpcore.TimeoutException,)
"""Connect, read, write and pool timeouts (httpx's ``TimeoutException``)."""
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpcore.TimeoutException, httpcore.NetworkError,
                                                 httpcore.ProtocolError, httpcore.ProxyError,
                                                 httpcore.UnsupportedProtocol)
"""Every failure to get an answer (httpx's ``TransportError``: timeouts, connection and TLS
errors, broken protocol, unsupported scheme)."""
ConnectError = httpcore.ConnectError
"""Connection refused, DNS, and TLS handshake failures ("SSL" in its text)."""

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
"""Header values kept as :class:`~chaos.secrets.Secret` in a pool (as httpx masks them in its repr)."""
USER_AGENT = f"aftershock/{__version__}"
KEEPALIVE_S = 5.0
"""Idle pooled connections are closed after this long (httpx's default)."""


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


class Pool:
    """A pool of keep-alive connections; ``await pool.request(...)`` → :class:`Answer`; raises one
    of :data:`TRANSPORT_ERRORS`. ``ssl_context`` is used for ``https://`` URLs only."""

    def __init__(self, ssl_context: ssl.SSLContext, *, headers: Mapping[str, str] | None = None,
                 max_connections: int = 10) -> None:
        self._headers: list[tuple[str, str | Secret]] = [
            ("User-Agent", USER_AGENT), ("Accept", "*/*"),
            *((k, Secret(v) if k.lower() in CREDENTIAL_HEADERS else v) for k, v in (headers or {}).items())]
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, max_connections=max_connections,
                                                  max_keepalive_connections=max_connections,
                                                  keepalive_expiry=KEEPALIVE_S)

    async def request(self, method: str, url: str, *, timeout: float, content: bytes | None = None,
                      headers: Mapping[str, str] | None = None) -> Answer:
        """``timeout`` bounds each phase (connect, write, read, waiting for a pooled connection), as
        httpx's ``timeout=`` does."""
        sent = [*((k, reveal(v)) for k, v in self._headers), *(headers or {}).items()]
        if content is not None:
            sent.append(("Content-Length", str(len(content))))
        response = await self._pool.request(
            method, url, headers=sent, content=content,
            extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}})
        return Answer(response.status, response.content)

    async def aclose(self) -> None:
        await self._pool.aclose()
