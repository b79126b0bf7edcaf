"""Async client of a fault proxy's admin endpoint, for processes other than the proxy's own.

Callers: the run engine (inject / shrink / remove proxy faults, circuit-break by weight),
``aftershock recover`` (``list_faults`` / ``remove_run``) and the TUI. It sends through
:mod:`chaos.clients.transport` (h11 over asyncio: a run talks to the proxy before it injects, and
httpx or httpcore would cost its start-up ~0.1 s). Transport errors and refusals become
:class:`chaos.errors.TargetError`; invalid faults become :class:`chaos.errors.InvalidInput`.
"""

from __future__ import annotations

import functools
import json
import ssl
from types import TracebackType
from typing import Any

from chaos.clients import transport
from chaos.clients.host.specs import ProxyFault
from chaos.errors import InvalidInput, Problem, TargetError, TargetRefused, TargetUnreachable


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """The system CA store with hostname checks, as httpx's default ``verify=True`` builds it."""
    return ssl.create_default_context()


@functools.cache
def _trusting_nothing() -> ssl.SSLContext:
    """For a plain ``http://`` endpoint, which never reaches TLS (no redirect is followed): a context
    that still requires a verified certificate but trusts no CA, so loading the system CA store
    (~30 ms of every run's pre-flight) is skipped and nothing would be trusted if TLS were ever used."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class ProxyAdminClient:
    """``async with ProxyAdminClient("http://127.0.0.1:9001", token) as admin: ...``"""

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        # TLS is verified (an https admin endpoint elsewhere gets the token); the verifying context is
        # built once per process, not per client (~0.1 s, on the breach → fault removed path), and only
        # for an https endpoint
        verify = _verifying_context() if self.base_url.startswith("https://") else _trusting_nothing()
        self.timeout = timeout
        self._client = transport.Pool(verify, headers={"Authorization": f"Bearer {token}"})

    async def __aenter__(self) -> ProxyAdminClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def list_faults(self) -> list[ProxyFault]:
        body = await self._call("GET", "/faults")
        return [ProxyFault.from_dict(item) for item in body["faults"]]

    async def add_fault(self, fault: ProxyFault) -> None:
        await self._call("POST", "/faults", fault.to_dict())

    async def update_fault(self, fault: ProxyFault) -> ProxyFault:
        body = await self._call("PUT", f"/faults/{fault.id}", fault.to_dict())
        return ProxyFault.from_dict(body["previous"])

    async def remove_fault(self, fault_id: str) -> ProxyFault | None:
        body = await self._call("DELETE", f"/faults/{fault_id}")
        return ProxyFault.from_dict(body["removed"]) if body["removed"] else None

    async def remove_run(self, run_id: str) -> list[ProxyFault]:
        body = await self._call("DELETE", f"/runs/{run_id}")
        return [ProxyFault.from_dict(item) for item in body["removed"]]

    async def weights(self) -> dict[str, int]:
        body = await self._call("GET", "/weights")
        return {str(k): int(v) for k, v in body["weights"].items()}

    async def set_weight(self, name: str, weight: int, owner: str = "") -> int:
        """Set a weight (with ``owner``: that run's hold); returns the previous weight."""
        body = await self._call("PUT", f"/weights/{name}", {"weight": weight, **({"owner": owner} if owner else {})})
        return int(body["previous"])

    async def release_weight(self, name: str, owner: str) -> int | None:
        """End ``owner``'s hold: the weight comes back only if no newer hold sits above it (see
        :meth:`chaos.clients.host.routing.Router.release`). Returns the weight now, None when
        ``owner`` held nothing."""
        body = await self._call("DELETE", f"/weights/{name}/holds/{owner}")
        return None if body["weight"] is None else int(body["weight"])

    async def metrics(self) -> str:
        try:
            response = await self._client.request("GET", self.base_url + "/metrics", timeout=self.timeout)
        except transport.TRANSPORT_ERRORS as exc:
            raise TargetError(f"fault proxy metrics at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise TargetError(f"fault proxy metrics at {self.base_url}: HTTP {response.status_code}")
        return response.text

    async def _call(self, method: str, path: str, payload: object = None) -> dict[str, Any]:
        content, headers = None, None
        if payload is not None:  # as httpx's ``json=`` encodes it
            content = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers = {"Content-Type": "application/json"}
        try:
            response = await self._client.request(method, self.base_url + path, timeout=self.timeout,
                                                  content=content, headers=headers)
        except transport.TRANSPORT_ERRORS as exc:
            raise TargetUnreachable(f"fault proxy admin at {self.base_url} unreachable: {exc}") from exc
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise TargetError(f"fault proxy admin {method} {path}: HTTP {response.status_code}, "
                              "not JSON") from exc
        if response.status_code == 400 and body.get("problems"):
            raise InvalidInput([Problem(**p) for p in body["problems"]])
        if response.status_code >= 400:
            raise (TargetError if response.status_code >= 500 else TargetRefused)(f"fault proxy admin {method} {path}: HTTP {response.status_code}: "
                              f"{body.get('error', body)}")
        if not isinstance(body, dict):
            raise TargetError(f"fault proxy admin {method} {path}: unexpected answer {body!r}")
        return body
