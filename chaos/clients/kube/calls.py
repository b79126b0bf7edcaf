"""The one boundary to the ``kubernetes`` client: bounded retries and error translation.

Every API call of :mod:`chaos.clients.kube` goes through :class:`Caller`: it retries 429 / 5xx /
timeouts / connection errors with exponential backoff (honouring ``Retry-After``, bounded by
:class:`~chaos.clients.kube.settings.KubeSettings`), returns the JSON body as a dict, and turns
``ApiException`` / urllib3 errors into :mod:`chaos.errors` classes with ``raise ... from exc``.
Callers: the other modules of this package only (they run in worker threads, see ``target``).
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import pydantic
import tenacity
import urllib3
from kubernetes.client.exceptions import ApiException, OpenApiException

from chaos.clients.kube.settings import KubeSettings
from chaos.errors import PermissionMissing, TargetError

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Reply:
    """An API answer: HTTP status and JSON body (a ``Status`` object for accepted errors)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def status_message(exc: ApiException) -> str:
    """The server's own message from a ``Status`` body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "")


def _is_connection_failure(exc: ApiException) -> bool:
    """The client wraps a TLS failure (a connection cut mid-handshake) as ``ApiException(0)``; a
    certificate that does not verify is not going to get better by retrying."""
    return exc.status == 0 and "CERTIFICATE_VERIFY_FAILED" not in str(exc.reason)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in TRANSIENT_STATUSES or _is_connection_failure(exc)
    return isinstance(exc, urllib3.exceptions.HTTPError)


class Caller:
    """Runs one client method with retries and translation; knows the request timeout."""

    def __init__(self, settings: KubeSettings, host: str) -> None:
        self.settings = settings
        self.host = host

    def _wait(self, state: tenacity.RetryCallState) -> float:
        s = self.settings
        backoff = min(s.retry_max_wait, s.retry_initial * 2 ** (state.attempt_number - 1))
        backoff *= 0.5 + random.random() / 2
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiException) and exc.headers:
            retry_after = exc.headers.get("Retry-After")
            if retry_after:
                with contextlib.suppress(ValueError):
                    backoff = max(backoff, min(float(retry_after), s.retry_max_wait))
        return float(backoff)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, accept: Collection[int] = (),
             **kwargs: Any) -> Reply:
        """Call ``fn(*args, **kwargs)``; statuses in ``accept`` come back as a :class:`Reply`.

        ``what`` names the operation for messages ("create NetworkChaos shop/x").
        """
        s = self.settings
        kwargs.setdefault("_request_timeout", (min(5.0, s.request_timeout), s.request_timeout))
        kwargs["_preload_content"] = False
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, s.retry_attempts))
            | tenacity.stop_after_delay(s.retry_total),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            response = retrying(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status in accept:
                try:
                    body = json.loads(exc.body or "{}")
                except ValueError:
                    body = {}
                return Reply(int(exc.status), body if isinstance(body, dict) else {})
            raise self.translate(what, exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise TargetError(f"{what}: cannot reach the Kubernetes API server at {self.host} "
                              f"after {s.retry_attempts} attempts: {exc}") from exc
        except (OpenApiException, pydantic.ValidationError) as exc:  # refused client-side
            raise TargetError(f"{what}: invalid request arguments: {exc}") from exc
        data = response.data
        try:
            body = json.loads(data) if data else {}
        except ValueError as exc:
            raise TargetError(f"{what}: the API server at {self.host} answered non-JSON "
                              f"(HTTP {response.status}): {data[:200]!r}") from exc
        return Reply(int(response.status), body if isinstance(body, dict) else {})

    def translate(self, what: str, exc: ApiException) -> TargetError:
        """Map an ``ApiException`` to the error class a user can act on."""
        message = status_message(exc)
        if exc.status == 403:
            return PermissionMissing(f"{what}: forbidden by RBAC", [message])
        if exc.status == 401:
            return TargetError(f"{what}: the API server at {self.host} rejected the credentials "
                               f"(HTTP 401: {message}); refresh your kubeconfig credentials")
        if _is_connection_failure(exc):
            return TargetError(f"{what}: cannot reach the Kubernetes API server at {self.host} after "
                               f"{self.settings.retry_attempts} attempts: {' '.join(str(exc.reason).split())}")
        if exc.status in TRANSIENT_STATUSES:
            return TargetError(f"{what}: API server kept failing (HTTP {exc.status}: {message}); "
                               f"gave up after {self.settings.retry_attempts} attempts")
        return TargetError(f"{what}: HTTP {exc.status} {exc.reason}: {message}")
