"""HTTP actuator: the ``degrade`` fallback call (and its revert) and ``notify`` webhooks, with httpx.

Implements :class:`chaos.policy.actuators.Degrader` (HTTP degrades only; route Kubernetes patches with
:class:`chaos.policy.actuators.RoutingDegrader`) and :class:`chaos.policy.actuators.Notifier`. Called by
the run engine through :mod:`chaos.policy.executor`.

Each call has a timeout (``with.timeout``), is retried with exponential backoff on connection errors,
timeouts, 5xx and 429 (at most ``with.retries`` more attempts), and must answer one of ``expectStatus``.
Anything else raises :class:`chaos.errors.ActuatorError` (httpx errors chained with ``from``), which the
executor turns into a failed outcome that the decider escalates. Repeated action ids are no-ops.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chaos.errors import ActuatorError
from chaos.model.durations import parse_duration
from chaos.model.policies import HttpCall
from chaos.policy.actions import Decision, Degrade, Notify, RevertHandle, notification_payload
from chaos.secrets import Secret, reveal, scrub

if TYPE_CHECKING:  # httpx is imported with the first call: every run builds an actuator before it injects
    import httpx

NOTIFY_STATUS = range(200, 300)


class _Retryable(Exception):
    """A transient failure (unreachable, timeout, 5xx, 429): worth another attempt."""


class HttpActuator:
    """Degrade and notify over HTTP. Use as ``async with HttpActuator() as http: ...``."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, backoff_s: float = 0.25,
                 max_backoff_s: float = 5.0, notify_retries: int = 2) -> None:
        self._client = client
        """Built on the first call (not per run: a CA store costs ~20 ms, and most runs call nothing)."""
        self._owns_client = client is None
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._notify_retries = notify_retries
        self._applied: dict[str, RevertHandle] = {}
        self._reverted: set[str] = set()
        self._notified: set[str] = set()

    async def __aenter__(self) -> HttpActuator:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------------ Degrader

    async def apply_degrade(self, decision: Decision) -> RevertHandle:
        if decision.id in self._applied:
            return self._applied[decision.id]
        action = decision.action
        if not isinstance(action, Degrade) or action.http is None:
            raise ActuatorError(f"{decision.id}: the HTTP actuator only applies HTTP degrades")
        await self.call(action.http, f"degrade {decision.id}")
        handle = RevertHandle(decision.id, action.targets[0], "http", payload=action.revert,
                              description=f"{action.revert.method} {action.revert.url}" if action.revert else "")
        self._applied[decision.id] = handle
        return handle

    async def revert_degrade(self, handle: RevertHandle) -> None:
        if handle.decision_id in self._reverted:
            return
        call = handle.payload
        if call is None:
            raise ActuatorError(f"degrade {handle.decision_id} has no with.revert: cannot revert it")
        if not isinstance(call, HttpCall):
            raise ActuatorError(f"degrade {handle.decision_id} was not applied over HTTP")
        await self.call(call, f"revert of degrade {handle.decision_id}")
        self._reverted.add(handle.decision_id)

    # ------------------------------------------------------------------------ Notifier

    async def notify(self, decision: Decision) -> None:
        if decision.id in self._notified:
            return
        action = decision.action
        if not isinstance(action, Notify):
            raise ActuatorError(f"{decision.id} is not a notify")
        await self._send("POST", action.url, dict(action.headers), notification_payload(decision),
                         timeout_s=parse_duration(action.timeout), retries=self._notify_retries,
                         expect=NOTIFY_STATUS, what=f"notify {decision.id}")
        self._notified.add(decision.id)

    # ------------------------------------------------------------------------ calls

    async def call(self, call: HttpCall, what: str) -> httpx.Response:
        """Make ``call`` with its timeout, retries and expected status; raise ActuatorError otherwise."""
        return await self._send(call.method, call.url, call.headers, call.json_,
                                timeout_s=parse_duration(call.timeout), retries=call.retries,
                                expect=call.expect_status, what=what)

    async def _send(self, method: str, url: str, headers: Mapping[str, str | Secret], body: Any, *, timeout_s: float,
                    retries: int, expect: Collection[int], what: str) -> httpx.Response:
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        attempts = retries + 1  # (tenacity is imported on the first call: not on a run's way to injection)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._backoff_s, max=self._max_backoff_s),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, url, headers, body, timeout_s, expect, what)
        except _Retryable as exc:
            tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
            raise ActuatorError(f"{what}: {exc} (gave up after {tries})") from exc.__cause__ or exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, url: str, headers: Mapping[str, str | Secret], body: Any, timeout_s: float,
                    expect: Collection[int], what: str) -> httpx.Response:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            # the one place header secrets are revealed: the request itself
            response = await self._client.request(method, url, headers={k: reveal(v) for k, v in headers.items()},
                                                  json=body if body is not None else None,
                                                  timeout=httpx.Timeout(timeout_s))
        except httpx.TimeoutException as exc:
            raise _Retryable(f"{method} {url} timed out after {timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"{method} {url} is unreachable ({type(exc).__name__}: "
                             f"{exc or 'connection failed'})") from exc
        if response.status_code in expect:
            return response
        text = f"{method} {url} answered {response.status_code}, expected {_statuses(expect)}"
        snippet = scrub(response.text[:200].strip())  # a server may echo what it was sent
        if snippet:
            text += f": {snippet}"
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(text)
        raise ActuatorError(f"{what}: {text}")


def _statuses(expect: Collection[int]) -> str:
    if isinstance(expect, range):
        return f"{expect.start}-{expect.stop - 1}"
    return "/".join(str(s) for s in sorted(expect))
