"""The only module that talks to Prometheus: ``prometheus-api-client`` behind an async, bounded facade.

Callers: :mod:`chaos.slo.monitoring` (the monitor, one :class:`PrometheusClient` per monitor) and
``bench/bench_monitor.py``. Everything else goes through the monitor.

Design:

* Instant queries (the monitor's hot path, one batched request per tick) go through one
  connection pool per client (:mod:`chaos.clients.transport`, h11 over asyncio connections —
  without httpx's and httpcore's import cost on a run's way to injection): a form ``POST /api/v1/query``
  (batched expressions are long) and ``json.loads`` of the answer, on the event loop — no worker thread, no ``requests`` session, no
  per-query dataframe-oriented wrapper; at 1,000 SLOs that is what keeps a tick inside its CPU
  budget (``docs/benchmarks.md``, "Monitor"). The same settings apply: URL, bearer token (re-read per
  request), basic auth, headers, CA bundle / insecure flag, and ``timeout`` bounds the whole call.
* Range queries (``aftershock check``) and the blocking ``query_sync`` use
  ``prometheus_api_client.PrometheusConnect`` over one ``requests.Session`` per client: URL, bearer token (env var or file, re-read per request so
  rotated tokens work; never stored in headers, logged or repr'd), basic auth, custom headers,
  CA bundle / insecure flag. ``PrometheusConnect.custom_query`` takes a per-request ``timeout``
  (requests' connect/read timeout), so the library suffices; the built-in urllib3 retries (3 with
  back-off on 5xx) are disabled, because the monitor's ``errorTolerance`` is the retry policy and a
  retrying client would blow the per-query timeout.
* The sync client runs in a per-client ``ThreadPoolExecutor`` of ``max_concurrency`` workers. A
  slot is held until the worker thread really finishes, so the pool stays bounded even when the
  caller stops waiting; the caller stops waiting after ``timeout`` (``asyncio.timeout``), so a
  hung query never delays anyone beyond its timeout. Prometheus is also sent ``timeout`` so it
  stops evaluating.
* Library and transport errors of both paths go through :meth:`PrometheusClient._translate` (the one
  place error messages are built) and become :class:`PrometheusUnreachable` (connection refused, DNS,
  TLS, timeout, HTTP 5xx/401/403/404...) or :class:`PrometheusQueryError` (HTTP 400/422 — bad
  PromQL, execution error — ``status: error``, or a result that is not an instant vector/scalar),
  both :class:`~chaos.errors.MonitorUnavailable`, raised ``from`` the original exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chaos.clients import transport
from chaos.errors import InvalidInput, MonitorUnavailable, Problem
from chaos.model.slos import MonitorSpec
from chaos.secrets import BadAuthority, Secret, remember, reveal, split_userinfo
from chaos.slo.evaluation import Point, RangeSeries

if TYPE_CHECKING:
    import requests

T = TypeVar("T")


class PrometheusUnreachable(MonitorUnavailable):
    """Prometheus could not be queried at all (connection, TLS, HTTP error, timeout)."""


class PrometheusQueryError(MonitorUnavailable):
    """Prometheus answered but refused the query (bad PromQL, execution error, ``status: error``)."""

    def __init__(self, message: str, *, status_code: int | None = None, error_type: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type


class _HttpStatus(Exception):
    """Raised by the response hook on any non-200 answer (carries Prometheus' error JSON)."""

    def __init__(self, status_code: int, error_type: str, error: str) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.error_type = error_type
        self.error = error


def _status_hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    if response.status_code == 200:
        return response
    error_type, error = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            error_type = str(body.get("errorType", ""))
            error = str(body.get("error", ""))
    except ValueError:
        error = response.text[:200].strip()
    raise _HttpStatus(response.status_code, error_type, error)


class _TokenAuth:
    """``Authorization: Bearer`` from an env var or a file, read at request time, never repr'd
    (a callable ``requests`` auth, and the header of each instant query)."""

    def __init__(self, env: str | None, path: str | None, environ: Mapping[str, str]) -> None:
        self._env = env
        self._path = path
        self._environ = environ

    def token(self) -> str:
        if self._env:
            value = self._environ.get(self._env, "")
            if not value:
                raise PrometheusUnreachable(f"bearer token: environment variable {self._env} is not set")
            remember(value)
            return value.strip()
        assert self._path is not None
        try:
            with open(self._path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise PrometheusUnreachable(f"bearer token file {self._path}: {exc.strerror}") from exc
        if not value:
            raise PrometheusUnreachable(f"bearer token file {self._path} is empty")
        remember(value)
        return value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def __repr__(self) -> str:
        source = f"env {self._env}" if self._env else f"file {self._path}"
        return f"<bearer token from {source}>"


def _secret(env: str | None, path: str | None, environ: Mapping[str, str], what: str) -> str:
    if env:
        value = environ.get(env)
        if value is None:
            raise PrometheusUnreachable(f"{what}: environment variable {env} is not set")
        remember(value)
        return value
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().rstrip("\n")
                remember(value)
                return value
        except OSError as exc:
            raise PrometheusUnreachable(f"{what} file {path}: {exc.strerror}") from exc
    raise PrometheusUnreachable(f"{what}: set password_env or password_file")


def form_body(fields: Mapping[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` body of ``fields``, every byte percent-encoded.

    ``urllib.parse.urlencode`` (what ``httpx`` uses for ``data=``) quotes byte by byte in Python:
    ~2 ms per 16 KB batch, 0.15 CPU-seconds for the 71 batches of a 10,000-SLO tick. ``bytes.hex``
    with ``%`` as separator does it in C (~40× faster); the body is three times longer, which
    costs Prometheus' form parser microseconds.
    """
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in fields.items()).encode("ascii")


def _quote(text: str) -> str:
    return "%" + text.encode("utf-8").hex("%") if text else ""


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as exc:
        raise PrometheusQueryError(f"not a number in the result: {text!r}") from exc


def parse_instant(result: Any) -> tuple[Point, ...]:
    """``data.result`` of ``/api/v1/query`` → points (scalar → one unlabelled point).

    ``PrometheusConnect.custom_query`` drops ``resultType``; the shapes tell them apart: a scalar
    is ``[ts, "v"]``, a vector a list of ``{"metric", "value"}``, a matrix has ``"values"``.
    """
    if not isinstance(result, list):
        raise PrometheusQueryError(f"unexpected result shape: {type(result).__name__}")
    if len(result) == 2 and not isinstance(result[0], dict):
        if isinstance(result[1], str) and not _looks_numeric(result[1]):
            raise PrometheusQueryError("the query returns a string, not a number")
        return (Point({}, _float(result[1])),)
    points: list[Point] = []
    for item in result:
        if not isinstance(item, dict):
            raise PrometheusQueryError("unexpected result shape")
        if "values" in item:
            raise PrometheusQueryError("the query returns a range vector; an SLO needs an instant vector "
                                       "(wrap it in a function such as rate() or max_over_time())")
        value = item.get("value")
        if not isinstance(value, list) or len(value) != 2:
            raise PrometheusQueryError("unexpected result shape: a vector sample without value")
        labels = {str(k): str(v) for k, v in dict(item.get("metric") or {}).items()}
        points.append(Point(labels, _float(value[1])))
    return tuple(points)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_range(result: Any) -> tuple[RangeSeries, ...]:
    """``data.result`` of ``/api/v1/query_range`` (a matrix) → series of ``(t, v)``."""
    if not isinstance(result, list):
        raise PrometheusQueryError("unexpected range result shape")
    out: list[RangeSeries] = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise PrometheusQueryError("unexpected range result shape")
        labels = {str(k): str(v) for k, v in dict(item.get("metric") or {}).items()}
        values = tuple((float(t), _float(v)) for t, v in item["values"])
        out.append(RangeSeries(labels, values))
    return tuple(out)


class PrometheusClient:
    """One Prometheus connection: a connection pool for instant queries, plus (built on first
    use) a ``requests.Session`` with a bounded worker pool for range and blocking queries. Not global.

    ``query``/``query_range`` are coroutines; ``query_sync``/``query_range_sync`` are the blocking
    versions (raise the same errors). Close with :meth:`close` / ``await aclose()``.
    """

    def __init__(self, settings: MonitorSpec, *, url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        # the URL is kept and shown without userinfo; userinfo becomes basic auth (secrets.py)
        try:
            self.url, userinfo = split_userinfo((url or settings.prometheus).rstrip("/"))
        except BadAuthority as exc:
            raise InvalidInput(Problem(f"Prometheus URL (--prometheus or spec.monitor.prometheus): {exc}")) from None
        userinfo = userinfo or settings.prometheus_userinfo
        if not self.url.startswith(("http://", "https://")):
            raise PrometheusUnreachable(f"Prometheus URL {self.url!r} must start with http:// or https://")
        self.timeout_s = settings.timeout_s
        self.max_concurrency = settings.max_concurrency
        environ = os.environ if environ is None else environ
        self._settings = settings
        basic = settings.basic_auth
        self._password: Callable[[], str] | None = None  # re-read for the requests transport; never stored
        if basic is not None:
            self._password = lambda: _secret(basic.password_env, basic.password_file, environ, "basic auth password")
        self._token: _TokenAuth | None = None
        self._basic: Secret | None = None
        """The basic-auth ``Authorization`` header of instant queries (masked in any repr)."""
        if (settings.bearer_token_env or settings.bearer_token_file) and settings.basic_auth:
            raise PrometheusUnreachable("monitor: set either a bearer token or basic auth, not both")
        if settings.bearer_token_env or settings.bearer_token_file:
            self._token = _TokenAuth(settings.bearer_token_env, settings.bearer_token_file, environ)
            self._token.token()  # fail early (and clearly) when the token is missing
        elif basic is not None and self._password is not None:
            self._basic = Secret(transport.basic_auth(basic.username, self._password()))
        self._userinfo: tuple[str, str] | None = None
        if userinfo is not None and self._token is None and basic is None:
            from urllib.parse import unquote

            user, _, password = userinfo.reveal().partition(":")
            self._userinfo = (unquote(user), unquote(password))
            self._basic = Secret(transport.basic_auth(*self._userinfo))
        self._header_names = sorted(settings.headers)
        self._headers = {k: reveal(v) for k, v in settings.headers.items()}
        # plain http:// has no TLS to verify: no CA store is built for it (~0.1 s per client)
        self._verify: str | bool = ((settings.ca_bundle if settings.ca_bundle else not settings.insecure)
                                    if self.url.startswith("https://") else False)
        self._sync: Any = None
        """``PrometheusConnect``, built on first use (range queries, blocking calls): ``requests`` and
        the library are imported only by the commands that need them (``aftershock check``)."""
        self._http: transport.Pool | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._http_slots: asyncio.Semaphore | None = None
        self._closed = False
        self.requests_sent = 0
        """Number of HTTP requests issued (instant + range), for tests and benchmarks."""

    def __repr__(self) -> str:
        return f"PrometheusClient(url={self.url!r}, headers={self._header_names}, timeout={self.timeout_s:g}s)"

    # ------------------------------------------------------------------ blocking

    def _connect(self) -> Any:
        if self._sync is not None:
            return self._sync
        import requests
        import requests.auth
        from prometheus_api_client.prometheus_connect import PrometheusConnect
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        settings = self._settings
        auth: Any = self._token
        if settings.basic_auth is not None and self._password is not None:
            auth = requests.auth.HTTPBasicAuth(settings.basic_auth.username, self._password())
        elif self._userinfo is not None:
            auth = requests.auth.HTTPBasicAuth(*self._userinfo)
        session = requests.Session()
        session.verify = settings.ca_bundle if settings.ca_bundle else not settings.insecure
        session.hooks["response"].append(_status_hook)
        no_retry = Retry(total=0, read=False, redirect=0, raise_on_status=False)  # read=False: timeouts stay timeouts
        options: dict[str, Any] = {"url": self.url, "headers": dict(self._headers) or None,
                                   "disable_ssl": settings.insecure, "retry": no_retry, "auth": auth,
                                   "session": session, "timeout": self.timeout_s}
        # the library annotates timeout as int and auth as a tuple; requests accepts floats and callables
        self._sync = PrometheusConnect(**options)
        # PrometheusConnect mounted an adapter with the default pool of 10 connections: size it to the pool
        session.mount(self.url, HTTPAdapter(max_retries=no_retry, pool_connections=1,
                                            pool_maxsize=self.max_concurrency))
        return self._sync

    def _translate(self, exc: BaseException, what: str, timeout_s: float | None = None) -> MonitorUnavailable:
        """The one place error messages about this Prometheus are built (both transports)."""
        if isinstance(exc, _HttpStatus):
            detail = f"{exc.error_type}: {exc.error}" if exc.error_type else exc.error
            if exc.status_code in (400, 422):
                return PrometheusQueryError(f"Prometheus refused {what} (HTTP {exc.status_code}): {detail}",
                                            status_code=exc.status_code, error_type=exc.error_type)
            return PrometheusUnreachable(f"Prometheus at {self.url} answered HTTP {exc.status_code}"
                                         + (f": {detail}" if detail else ""))
        timeouts: tuple[type[BaseException], ...] = (*transport.TIMEOUTS, TimeoutError)
        tls: tuple[type[BaseException], ...] = ()
        connection: tuple[type[BaseException], ...] = transport.TRANSPORT_ERRORS
        library: tuple[type[BaseException], ...] = ()
        if self._sync is not None:  # the requests transport is in use: its errors too
            import requests
            from prometheus_api_client.exceptions import PrometheusApiClientException

            timeouts += (requests.Timeout,)
            tls = (requests.exceptions.SSLError,)
            connection += (requests.ConnectionError,)
            library = (PrometheusApiClientException,)
        if isinstance(exc, timeouts):
            timeout = self.timeout_s if timeout_s is None else timeout_s
            return PrometheusUnreachable(f"Prometheus at {self.url} did not answer within {timeout:g}s")
        if isinstance(exc, tls) or (isinstance(exc, transport.ConnectError) and "SSL" in str(exc)):
            return PrometheusUnreachable(f"TLS error talking to {self.url}: {exc}")
        if isinstance(exc, connection):
            return PrometheusUnreachable(f"cannot connect to Prometheus at {self.url}")
        if isinstance(exc, library):
            return PrometheusUnreachable(f"Prometheus at {self.url}: {exc}")
        if isinstance(exc, KeyError | TypeError):
            return PrometheusQueryError(f"Prometheus answered {what} without data (status: error?)")
        if isinstance(exc, ValueError | json.JSONDecodeError):
            return PrometheusUnreachable(f"{self.url} did not answer with Prometheus JSON")
        return PrometheusUnreachable(f"querying {self.url} failed: {type(exc).__name__}: {exc}")

    def query_sync(self, query: str, eval_time: float, timeout_s: float | None = None) -> tuple[Point, ...]:
        """Instant query at ``eval_time`` (epoch seconds) → points."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        self.requests_sent += 1
        try:
            result = self._connect().custom_query(
                query, params={"time": f"{eval_time:.3f}", "timeout": f"{timeout:.3f}"}, timeout=timeout)
        except MonitorUnavailable:
            raise
        except Exception as exc:
            raise self._translate(exc, "the query") from exc
        return parse_instant(result)

    def query_range_sync(self, query: str, start: float, end: float, step_s: float,
                         timeout_s: float | None = None) -> tuple[RangeSeries, ...]:
        """Range query over ``[start, end]`` (whole seconds, as the library rounds) every ``step_s``."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        self.requests_sent += 1
        try:
            result = self._connect().custom_query_range(
                query, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step_s:g}", params={"timeout": f"{timeout:.3f}"}, timeout=timeout)
        except MonitorUnavailable:
            raise
        except Exception as exc:
            raise self._translate(exc, "the range query") from exc
        return parse_range(result)

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._sync is not None:
            self._sync.close()

    # ------------------------------------------------------------------ async

    async def _run(self, fn: Callable[[], T], timeout_s: float) -> T:
        if self._closed:
            raise PrometheusUnreachable("the Prometheus client is closed")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="prometheus-query")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        slots = self._slots
        await slots.acquire()
        loop = asyncio.get_running_loop()

        def release(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits for the slot
                loop.call_soon_threadsafe(slots.release)

        try:
            future = self._pool.submit(fn)
        except RuntimeError as exc:
            slots.release()
            raise PrometheusUnreachable("the Prometheus client is closed") from exc
        future.add_done_callback(release)
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            raise self._translate(exc, "the query", timeout_s) from exc

    def _http_client(self) -> transport.Pool:
        if self._http is None:
            headers = {"Content-Type": "application/x-www-form-urlencoded", **self._headers}
            if self._basic is not None:
                headers["Authorization"] = self._basic.reveal()
            self._http = transport.Pool(self._ssl_context(), headers=headers, max_connections=self.max_concurrency)
        return self._http

    def _ssl_context(self) -> ssl.SSLContext:
        """As httpx builds it from ``verify`` without the environment (``trust_env=False``): a CA
        bundle file or folder, certifi's CAs, or no verification (``insecure``). Plain ``http://``
        never reaches TLS: a context that trusts no CA, so no CA store is loaded (~0.1 s)."""
        verify = self._verify
        if isinstance(verify, str):
            return (ssl.create_default_context(capath=verify) if os.path.isdir(verify)
                    else ssl.create_default_context(cafile=verify))
        if verify:
            import certifi

            return ssl.create_default_context(cafile=certifi.where())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.url.startswith("https://"):  # insecure: TLS without verification, as asked
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _post_query(self, query: str, eval_time: float, timeout: float) -> Any:
        headers = {"Authorization": f"Bearer {self._token.token()}"} if self._token is not None else None
        if self._http_slots is None:
            self._http_slots = asyncio.Semaphore(self.max_concurrency)
        # at most max_concurrency requests in flight, one per pooled connection. A tick of many batches
        # queues here, where waiting is not bounded by a request's timeout; the pool's own slots (the
        # same number) then never wait, so its "no free connection" timeout cannot cut a long tick
        async with self._http_slots:
            response = await self._http_client().request(
                "POST", self.url + "/api/v1/query", headers=headers, timeout=timeout,
                content=form_body({"query": query, "time": f"{eval_time:.3f}", "timeout": f"{timeout:.3f}"}))
        if response.status_code != 200:
            error_type, error = "", ""
            try:
                body = json.loads(response.content)
                if isinstance(body, dict):
                    error_type, error = str(body.get("errorType", "")), str(body.get("error", ""))
            except ValueError:
                error = response.text[:200].strip()
            raise _HttpStatus(response.status_code, error_type, error)
        body = json.loads(response.content)
        if not isinstance(body, dict) or body.get("status") != "success":
            raise KeyError("status")
        return body["data"]["result"]

    async def query(self, query: str, eval_time: float, timeout_s: float | None = None
                    ) -> tuple[tuple[Point, ...], float]:
        """Instant query (on the event loop) → ``(points, seconds it took)``; raises on failure.

        ``timeout`` bounds the whole call (connection, waiting for a free connection, answer).
        """
        if self._closed:
            raise PrometheusUnreachable("the Prometheus client is closed")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter()
        self.requests_sent += 1
        try:
            async with asyncio.timeout(timeout):
                result = await self._post_query(query, eval_time, timeout)
        except MonitorUnavailable:
            raise
        except Exception as exc:
            raise self._translate(exc, "the query", timeout) from exc
        return parse_instant(result), time.perf_counter() - started

    async def query_range(self, query: str, start: float, end: float, step_s: float,
                          timeout_s: float | None = None) -> tuple[tuple[RangeSeries, ...], float]:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter()
        series = await self._run(lambda: self.query_range_sync(query, start, end, step_s, timeout), timeout)
        return series, time.perf_counter() - started

    async def aclose(self) -> None:
        self.close()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

