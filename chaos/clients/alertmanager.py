"""Alertmanager API v2 client (httpx): silences for the alerts an experiment expects, and the alerts
Aftershock sends (a breach no policy answers, a failed recovery, a verdict other than passed, a
suspended schedule).

Silences are labelled as ours: ``createdBy: aftershock`` and a comment that starts with
``aftershock:<run id>``, so ``aftershock recover`` finds a dead run's silence from its record alone
(:func:`expire_run_silences`). Errors raise :class:`~chaos.errors.ActuatorError` with the URL and
status; header values are :class:`~chaos.secrets.Secret` and only revealed into the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from chaos.errors import ActuatorError
from chaos.secrets import Secret, reveal

CREATED_BY = "aftershock"


def iso(epoch: float) -> str:
    """Alertmanager's timestamps: RFC 3339 in UTC."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def silence_comment(run_id: str, experiment: str) -> str:
    return f"aftershock:{run_id} expected alerts of experiment {experiment} during its fault window"


class AlertmanagerClient:
    """``async with AlertmanagerClient(url) as am: ...``"""

    def __init__(self, url: str, *, headers: Mapping[str, str | Secret] | None = None, timeout_s: float = 5.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {k: reveal(v) for k, v in (headers or {}).items()}
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns = client is None

    async def __aenter__(self) -> AlertmanagerClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns:
            await self._client.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.url}/api/v2{path}"
        try:
            response = await self._client.request(method, url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ActuatorError(f"Alertmanager {method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise ActuatorError(f"Alertmanager {method} {url}: HTTP {response.status_code}: "
                                f"{response.text[:300]}")
        return response.json() if response.content else None

    async def create_silence(self, matchers: Sequence[Mapping[str, Any]], starts: float, ends: float,
                             comment: str) -> str:
        """Create a silence → its id."""
        body = {"matchers": list(matchers), "startsAt": iso(starts), "endsAt": iso(ends),
                "createdBy": CREATED_BY, "comment": comment}
        answer = await self._call("POST", "/silences", body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str):
            raise ActuatorError(f"Alertmanager {self.url}: no silenceID in the answer {answer!r:.200}")
        return silence_id

    async def silences(self) -> list[dict[str, Any]]:
        answer = await self._call("GET", "/silences")
        return [s for s in answer if isinstance(s, dict)] if isinstance(answer, list) else []

    async def expire_silence(self, silence_id: str) -> bool:
        """Expire one silence; False when it was already expired or is unknown (idempotent)."""
        try:
            await self._call("DELETE", f"/silence/{silence_id}")
        except ActuatorError as exc:
            if "HTTP 404" in str(exc) or "already expired" in str(exc):
                return False
            raise
        return True

    async def expire_run_silences(self, run_id: str) -> list[str]:
        """Expire every active or pending silence of ``run_id`` (found by its comment) → their ids."""
        prefix = f"aftershock:{run_id} "
        expired: list[str] = []
        for silence in await self.silences():
            state = (silence.get("status") or {}).get("state")
            if silence.get("createdBy") != CREATED_BY or state == "expired":
                continue
            if not str(silence.get("comment", "")).startswith(prefix):
                continue
            if await self.expire_silence(str(silence["id"])):
                expired.append(str(silence["id"]))
        return expired

    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        await self._call("POST", "/alerts", list(alerts))

    async def alerts(self, *, silenced: bool = True, active: bool = True) -> list[dict[str, Any]]:
        answer = await self._call("GET", f"/alerts?silenced={str(silenced).lower()}&active={str(active).lower()}")
        return [a for a in answer if isinstance(a, dict)] if isinstance(answer, list) else []
