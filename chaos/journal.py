"""Run events → one journal per run, in Chaos Toolkit's journal shape plus our evidence.

CTK keys: ``status``, ``deviated``, ``start``, ``end``, ``duration``, ``steady_states``
(``before``/``after``/``during``), ``run[]``, ``rollbacks[]``, ``experiment``. Ours under
``aftershock``: verdict, exit code, the SLO sample timeline, every policy decision with its
evidence, actions and reverts, and the measured timings (breach → action → fault removed →
SLO recovered). Pure: the driver writes the result through the state store. Also read by
``show``, ``report`` and the TUI history.

Secrets: the journal records the experiment *as written* (``aftershock.written``: templates
unrendered, URL userinfo and literal header values masked) and the resolved parameters, those read
from the environment as ``***``. The CTK-shaped ``experiment`` is a dump of the model, whose secret
fields serialize as ``***``; the whole journal is scrubbed once more (:func:`chaos.secrets.scrub_data`).
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

from chaos.engine import events as ev
from chaos.interop.ctk import to_ctk_experiment
from chaos.model.experiment import Experiment
from chaos.secrets import MASK, scrub_data
from chaos.version import __version__

CTK_STATUS = {"passed": "completed", "deviated": "completed", "failed": "failed", "aborted": "aborted",
              "unsteady": "failed", "invalid": "failed", "error": "failed"}


def _chaoslib_version() -> str | None:
    """The chaoslib version whose journal format this follows (None if it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chaostoolkit-lib")
    except PackageNotFoundError:
        return None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _probe(verdict: Any, at: float) -> dict[str, Any]:
    return {
        "activity": {"type": "probe", "name": verdict.slo, "tolerance": verdict.objective,
                     "provider": {"type": "prometheus", "query": verdict.query}},
        "output": verdict.value,
        "status": "succeeded" if verdict.status != "unavailable" else "failed",
        "tolerance_met": verdict.holds,
        "start": iso(verdict.eval_time or at), "end": iso(at), "duration": verdict.query_seconds,
    }


def written_view(doc: Any, key: str = "") -> Any:
    """The document as written, for the journal: header values that are not templates (literal
    credentials) become ``***``; URL userinfo and known secrets are scrubbed by the caller."""
    if isinstance(doc, dict):
        return {k: (MASK if key == "headers" and isinstance(v, str) and "{{" not in v and "{%" not in v
                    else written_view(v, str(k))) for k, v in doc.items()}
    if isinstance(doc, list):
        return [written_view(v) for v in doc]
    return doc


def build_journal(experiment: Experiment, events: list[ev.RunEvent], *, written: dict[str, Any] | None = None,
                  parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    started = next((e for e in events if isinstance(e, ev.RunStarted)), None)
    finished = next((e for e in reversed(events) if isinstance(e, ev.RunFinished)), None)
    start = started.at if started else (events[0].at if events else 0.0)
    end = finished.at if finished else (events[-1].at if events else start)
    verdict = finished.verdict if finished else "error"
    steady: dict[str, Any] = {"before": None, "after": None, "during": []}
    run: list[dict[str, Any]] = []
    rollbacks: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, ev.SteadyStateChecked):
            steady[event.phase] = {"steady_state_met": event.holds,
                                   "probes": [_probe(v, event.at) for v in event.verdicts]}
        elif isinstance(event, ev.FaultInjected):
            run.append({"activity": {"type": "action", "name": f"inject-{event.fault}",
                                     "provider": {"type": "aftershock", "fault_type": event.fault_type}},
                        "output": {"description": event.description, "deadline": iso(event.deadline),
                                   **event.details},
                        "status": "succeeded", "start": iso(event.at), "end": iso(event.at), "duration": 0.0})
            faults.append({"fault": event.fault, "type": event.fault_type, "description": event.description,
                           "injected": event.at, "deadline": event.deadline})
        elif isinstance(event, ev.FaultRemoved):
            rollbacks.append({"activity": {"type": "action", "name": f"remove-{event.fault}",
                                           "provider": {"type": "aftershock"}},
                              "output": {"reason": event.reason}, "status": "succeeded",
                              "start": iso(event.at), "end": iso(event.at), "duration": 0.0})
            for f in faults:
                if f["fault"] == event.fault and "removed" not in f:
                    f["removed"] = event.at
                    f["removed_reason"] = event.reason
        elif isinstance(event, ev.SloSampled):
            timeline.append({"at": event.at, "eval_time": event.tick.eval_time,
                             "verdicts": [{"slo": v.slo, "status": v.status, "value": v.value,
                                           "objective": v.objective, "consecutive": v.consecutive,
                                           "pending_since": v.pending_since, "query_seconds": v.query_seconds,
                                           "series": [{"labels": s.labels, "value": s.value, "holds": s.holds}
                                                      for s in v.breaching_series][:20]}
                                          for v in event.tick.verdicts]})
            steady["during"].append({"at": iso(event.at),
                                     "tolerance_met": all(v.holds for v in event.tick.verdicts)})
        elif isinstance(event, ev.PolicyFired):
            decisions.append({"at": event.at, "decision_id": event.decision_id, "policy": event.policy,
                              "action": event.action, "target": event.target, "evidence": event.evidence,
                              "outcome": None})
        elif isinstance(event, ev.ActionApplied | ev.ActionFailed):
            for d in reversed(decisions):
                if d["decision_id"] == event.decision_id and d["outcome"] is None:
                    d["outcome"] = ({"status": "applied", "detail": event.detail, "at": event.at}
                                    if isinstance(event, ev.ActionApplied)
                                    else {"status": "failed", "error": event.error, "at": event.at})
                    break
            else:
                if isinstance(event, ev.ActionFailed) and event.decision_id.startswith("revert:"):
                    rollbacks.append({"activity": {"type": "action", "name": event.decision_id.replace(":", "-", 1),
                                                   "provider": {"type": "aftershock", "action": event.action}},
                                      "output": {"error": event.error}, "status": "failed",
                                      "start": iso(event.at), "end": iso(event.at), "duration": 0.0})
        elif isinstance(event, ev.Reverted):
            rollbacks.append({"activity": {"type": "action", "name": f"revert-{event.decision_id}",
                                           "provider": {"type": "aftershock", "action": event.action}},
                              "output": {"detail": event.detail, "kept": event.kept},
                              "status": "succeeded", "start": iso(event.at), "end": iso(event.at),
                              "duration": 0.0})
    kept = [e.detail for e in events if isinstance(e, ev.Reverted) and e.kept]
    return dict(scrub_data({
        "chaoslib-version": _chaoslib_version(),
        "platform": platform.platform(),
        "node": platform.node(),
        "experiment": to_ctk_experiment(experiment),
        "start": iso(start),
        "end": iso(end),
        "duration": round(end - start, 3),
        "status": CTK_STATUS.get(verdict, "failed"),
        "deviated": verdict in ("deviated", "failed"),
        "steady_states": steady,
        "run": run,
        "rollbacks": rollbacks,
        "aftershock": {
            "version": __version__,
            "run_id": started.run_id if started else "",
            "experiment": experiment.name,
            "source": started.source if started else "",
            "target": experiment.spec.target.type,
            "verdict": verdict,
            "exit_code": finished.exit_code if finished else 3,
            "reason": finished.reason if finished else "",
            "timings": finished.timings if finished else {},
            "faults": faults,
            "decisions": decisions,
            "kept": kept,
            "timeline": timeline,
            "slos": [{"name": s.name, "query": s.query, "objective": str(s.objective),
                      **({"probe": s.source} if s.probe is not None else {})}
                     for s in experiment.spec.slos],
            "events": [e.to_dict() for e in events if not isinstance(e, ev.SloSampled)],
            "written": written_view(written) if written is not None else None,
            "parameters": parameters if parameters is not None else None,
        },
    }))
