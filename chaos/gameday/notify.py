"""Game-day notifications: a JSON POST per event to every ``spec.notify`` URL that asked for it.

The body carries the event, the game day, its due time, and when finished the verdict, the
resilience score and the report path. A failing webhook is retried (tenacity) and then logged,
never fatal. URLs are shown without their userinfo. httpx with an injectable transport; used by
the runner and the scheduler service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chaos.errors import ChaosError
from chaos.gameday.loading import LoadedGameDay
from chaos.model.gameday import Notify

log = logging.getLogger("aftershock.gameday")


def redact(url: str) -> str:
    """``https://user:secret@host/x`` → ``https://host/x`` (and no query string)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Notifier:
    def __init__(self, targets: Sequence[Notify], transport: httpx.AsyncBaseTransport | None = None,
                 attempts: int = 3) -> None:
        self.targets = list(targets)
        self._transport = transport
        self._attempts = attempts
        self.sent: list[tuple[str, str]] = []
        """(redacted URL, event) of every delivered notification."""

    async def send(self, event: str, body: dict[str, Any]) -> None:
        wanted = [t for t in self.targets if event in t.events]
        if not wanted:
            return
        async with httpx.AsyncClient(transport=self._transport, timeout=5.0, follow_redirects=False) as client:
            for target in wanted:
                try:
                    async for attempt in AsyncRetrying(stop=stop_after_attempt(self._attempts),
                                                       wait=wait_exponential(multiplier=0.2, max=2),
                                                       retry=retry_if_exception_type(httpx.HTTPError),
                                                       reraise=True):
                        with attempt:
                            response = await client.post(target.url, json={"event": event, **body})
                            response.raise_for_status()
                except httpx.HTTPError as exc:
                    log.warning("notification %s to %s failed: %s", event, redact(target.url),
                                type(exc).__name__)
                    continue
                self.sent.append((redact(target.url), event))


async def alert_suspended(lgd: LoadedGameDay, body: Mapping[str, Any]) -> None:
    """``AftershockScheduleSuspended`` to the game day's Alertmanager (``spec.alerting``), if it has one;
    a failure is logged (the suspension itself is recorded and shown by ``gameday list``)."""
    receiver = lgd.gameday.spec.alerting
    if receiver is None:
        return
    from chaos.clients.alertmanager import AlertmanagerClient
    from chaos.engine.alerts import schedule_suspended

    alert = schedule_suspended(receiver, lgd.name, str(body.get("reason", "")), float(body.get("at", 0.0)))
    try:
        async with AlertmanagerClient(receiver.alertmanager, headers=receiver.headers) as am:
            await am.post_alerts([alert])
    except ChaosError as exc:
        log.warning("alerting %s of the suspended schedule %s failed: %s", receiver.alertmanager, lgd.name, exc)
