"""Which alerts a run sends to Alertmanager (pure): the events of one run → Alertmanager alerts.

Sent (``spec.alerting``), each with the run's labels (experiment, run id, the experiment's
``metadata.labels`` and ``alerting.labels``) and a link to its report (``generatorURL``):

* ``AftershockBreachUnanswered``: an SLO breached and no policy of the experiment watches it
  ("keep monitoring and alert"); resolved (``endsAt`` now) once the SLO holds again or the run ends.
* ``AftershockRecoveryFailed``: a policy action or an end-of-run revert failed.
* ``AftershockRunNotPassed``: the run ended with a verdict other than ``passed``.
* ``AftershockScheduleSuspended`` (``gameday serve``, a GameDay's ``alerting``): a schedule was
  suspended after ``suspendAfter`` failed game days (:func:`schedule_suspended`).

The driver posts what :meth:`RunAlerts.on_event` returns (``chaos.clients.alertmanager``). The
expected alerts of the experiment are silenced separately (``alerting.silence``). No I/O, no clock:
every time comes from the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chaos.engine import events as ev
from chaos.model.alerting import Alerting, AlertReceiver
from chaos.model.experiment import Experiment
from chaos.slo.verdicts import MONITOR

HOLD_S = 3600.0
"""How long a one-off alert (failed recovery, verdict) stays active unless resent (then resolved)."""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def report_link(alerting: Alerting, run_id: str, journal: str = "") -> str:
    """``alerting.reportUrl`` with ``{run_id}`` filled in, else the run's journal file."""
    if alerting.report_url:
        return alerting.report_url.replace("{run_id}", run_id)
    return f"file://{journal}" if journal else ""


def alert(name: str, labels: Mapping[str, str], summary: str, description: str, starts: float,
          ends: float | None, link: str) -> dict[str, Any]:
    out: dict[str, Any] = {"labels": {"alertname": name, **labels},
                           "annotations": {"summary": summary[:500], "description": description[:2000]},
                           "startsAt": iso(starts)}
    if ends is not None:
        out["endsAt"] = iso(ends)
    if link:
        out["generatorURL"] = link
    if link:
        out["annotations"]["report"] = link
    return out


class RunAlerts:
    """One per run: feed it every event; it returns the alerts to post (usually none)."""

    def __init__(self, experiment: Experiment, run_id: str, *, journal: str = "") -> None:
        alerting = experiment.spec.alerting
        assert alerting is not None
        self.alerting = alerting
        self.experiment = experiment.name
        self.run_id = run_id
        self.link = report_link(alerting, run_id, journal)
        self.labels = {**experiment.metadata.labels, **alerting.labels, "experiment": experiment.name,
                       "run_id": run_id, "source": "aftershock"}
        self.labels.setdefault("severity", "warning")
        watched = {p.when.slo for p in experiment.spec.policies}
        if experiment.spec.monitor.on_error != "continue":
            watched.add(MONITOR)
        self.unanswered = {s.name for s in experiment.spec.slos} - watched
        self.firing: dict[str, float] = {}
        """Unanswered SLOs alerted on and not yet resolved → when they started."""

    def on_event(self, event: ev.Event) -> list[dict[str, Any]]:
        if isinstance(event, ev.RunFinished):
            self.link = report_link(self.alerting, self.run_id, event.journal) or self.link
        match event:
            case ev.SloSampled(tick=tick):
                out = []
                for v in tick.verdicts:
                    if v.slo not in self.unanswered:
                        continue
                    if v.status == "breached" and v.slo not in self.firing:
                        self.firing[v.slo] = event.at
                        out.append(self._breach(v.slo, event.at, None,
                                                f"value {v.value:g}, objective {v.objective}" if v.value is not None
                                                else v.objective))
                    elif v.status == "ok" and v.slo in self.firing:
                        out.append(self._breach(v.slo, self.firing.pop(v.slo), event.at, "holds again"))
                return out
            case ev.ActionFailed():
                return [alert("AftershockRecoveryFailed", {**self.labels, "action": event.action,
                                                           "decision": event.decision_id, "severity": "critical"},
                              f"{self.experiment}: {event.action} {event.decision_id} failed",
                              event.error or "the action failed", event.at, event.at + HOLD_S, self.link)]
            case ev.RunFinished():
                out = [self._breach(slo, since, event.at, "the run ended") for slo, since in self.firing.items()]
                self.firing.clear()
                if event.verdict != "passed":
                    severity = "critical" if event.verdict in ("failed", "error") else "warning"
                    out.append(alert("AftershockRunNotPassed", {**self.labels, "verdict": event.verdict,
                                                                "severity": severity},
                                     f"{self.experiment}: run {self.run_id} {event.verdict}",
                                     event.reason or event.verdict, event.at, event.at + HOLD_S, self.link))
                return out
            case _:
                return []

    def _breach(self, slo: str, starts: float, ends: float | None, detail: str) -> dict[str, Any]:
        return alert("AftershockBreachUnanswered", {**self.labels, "slo": slo},
                     f"{self.experiment}: SLO {slo} breached and no policy answers it",
                     f"{slo}: {detail} (run {self.run_id}: monitoring goes on until the fault window ends)",
                     starts, ends, self.link)


def schedule_suspended(receiver: AlertReceiver, schedule: str, reason: str, at: float) -> dict[str, Any]:
    """The alert ``gameday serve`` sends when it suspends a schedule (active until resumed or HOLD_S)."""
    labels = {**receiver.labels, "schedule": schedule, "source": "aftershock"}
    labels.setdefault("severity", "warning")
    link = receiver.report_url.replace("{run_id}", schedule) if receiver.report_url else ""
    return alert("AftershockScheduleSuspended", labels, f"game day schedule {schedule} suspended", reason,
                 at, at + HOLD_S, link)
