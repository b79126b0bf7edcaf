"""A run's alerting (``spec.alerting``): the expected alerts silenced (recorded write-ahead like a
fault) before the first injection and expired once the faults are gone; the run's own alerts
posted to Alertmanager, and the last ones let out (bounded) when the run ends. The Alertmanager
client (httpx) is imported by the runs that alert.

A part of :class:`chaos.engine.driver.Engine`; callers: the driver package only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chaos.engine import events as ev
from chaos.engine.driver.state import EngineParts, RunState
from chaos.errors import ChaosError
from chaos.targets import silences

log = logging.getLogger("aftershock.engine")
ALERT_POST_TIMEOUT_S = 10.0
"""How long the end of a run waits for its last alerts to reach Alertmanager."""


class Alerting(EngineParts):
    """Silences and alerts of a run."""

    async def _silence(self, run: RunState) -> None:
        """Silence the experiment's expected alerts for the fault window: recorded write-ahead (a
        fault row of its own), then created. A failure is said and the run goes on (the drill's
        own alerts may page)."""
        alerting = run.experiment.spec.alerting
        assert alerting is not None
        now = self.clock.wall()
        planned = silences.planned(run.experiment, run.run_id, now)
        run.silence = planned
        self.store.record_fault(run.run_id, silences.FAULT_NAME, silences.FAULT_TYPE, planned, planned["ends"])
        try:
            created = await silences.create(planned, self.environ)
        except ChaosError as exc:
            self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(), level="warning",
                                         message=f"could not silence the expected alerts: {exc}"))
            return
        run.silence = created
        self.store.update_fault(run.run_id, silences.FAULT_NAME, "injected", created)
        self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(),
                                     message=f"silenced the expected alerts ({', '.join(alerting.silence)}) until the "
                                             f"run ends: silence {created['silence_id']} at {alerting.alertmanager}"))

    async def _post_alerts(self, run: RunState, alerts: list[dict[str, Any]]) -> None:
        alerting = run.experiment.spec.alerting
        assert alerting is not None
        from chaos.clients.alertmanager import AlertmanagerClient

        try:
            async with AlertmanagerClient(alerting.alertmanager, headers=alerting.headers) as am:
                await am.post_alerts(alerts)
        except ChaosError as exc:
            log.warning("run %s: sending %d alert(s) failed: %s", run.run_id, len(alerts), exc)

    async def _expire_silence(self, run: RunState) -> None:
        """Expire the run's silence once its faults are gone, before the run is reported finished (so a
        finished run has no live record); idempotent. A failure is said; ``aftershock recover`` expires
        it later, and Alertmanager ends it at its ``endsAt`` anyway."""
        if run.silence is None:
            return
        silence, run.silence = run.silence, None
        try:
            detail = await silences.expire(silence, self.environ, trusted=True)
            self.store.update_fault(run.run_id, silences.FAULT_NAME, "removed")
            log.info("%s", detail)
        except ChaosError as exc:
            log.warning("run %s: expiring the silence failed: %s", run.run_id, exc)

    async def _end_alerting(self, run: RunState) -> None:
        """The silence expired if the run ended without reporting (it normally is before RunFinished),
        and the last alerts let out (bounded)."""
        await self._expire_silence(run)
        if run.posting:
            await asyncio.wait(set(run.posting), timeout=ALERT_POST_TIMEOUT_S)
