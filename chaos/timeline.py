"""A run's journal as a readable event list: time offset, what happened, evidence in words.

Pure (journal dict → :class:`Entry` list, numbers → short text). One wording for the three
places that show a run's history: ``aftershock show`` (text), the HTML report
(``chaos.report``) and the TUI's journal screen (``tui.screens.history``). ``--output json``
keeps the raw journal; nothing here is meant for machines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

TIMING_LABELS = {
    "breach_to_action_s": "breach → policy action",
    "breach_to_fault_removed_s": "breach → fault removed",
    "breach_to_slo_recovered_s": "breach → SLO recovered",
    "action_to_slo_recovered_s": "action → SLO recovered",
}


@dataclass(frozen=True)
class Entry:
    offset: float
    """Seconds since the run started."""
    title: str
    detail: str = ""
    severity: str = "info"
    """info, warning, error, success."""


def number(value: Any) -> str:
    """A measured value, short: 0.589, 0.0241, 1.2e+03; ``no data`` for None/NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return "no data" if value is None or isinstance(value, float) else str(value)
    value = float(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def seconds(value: float) -> str:
    """A duration in words: ``0.05 s``, ``8 s``, ``2 min 05 s``."""
    if value < 10:
        return f"{value:.2g} s" if value < 1 else f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    whole = round(value)
    return f"{whole // 60} min {whole % 60:02d} s"


def timing_label(key: str) -> str:
    return TIMING_LABELS.get(key, key.removesuffix("_s").replace("_", " ").replace(" to ", " → "))


def evidence_text(evidence: dict[str, Any]) -> str:
    """``checkout-p95 was 0.589 (objective < 0.3), breached for 3 ticks``: the decision's reason."""
    if not evidence:
        return ""
    slo = evidence.get("slo")
    parts: list[str] = []
    if slo is not None and "value" in evidence:
        text = f"{slo} was {number(evidence.get('value'))}"
        if evidence.get("objective"):
            text += f" (objective {evidence['objective']})"
        status = evidence.get("status")
        if status and status != "ok":
            text += f", {status}"
        consecutive = evidence.get("consecutive")
        if isinstance(consecutive, int) and consecutive > 1:
            text += f" for {consecutive} ticks"
        parts.append(text)
    elif evidence.get("reason"):
        parts.append(str(evidence["reason"]))
    series = evidence.get("series")
    if isinstance(series, list):
        labelled = [s for s in series if isinstance(s, dict) and s.get("labels")]
        if labelled:
            shown = "; ".join("{" + ", ".join(f"{k}={v}" for k, v in s["labels"].items()) + "} "
                              f"{number(s.get('value'))}" for s in labelled[:3])
            more = f" and {len(labelled) - 3} more" if len(labelled) > 3 else ""
            parts.append(f"series {shown}{more}")
    if evidence.get("summary"):
        parts.append(f"so: {evidence['summary']}")
    return "; ".join(parts)


def _verdicts(verdicts: Any) -> str:
    if not isinstance(verdicts, list):
        return ""
    return ", ".join(f"{v.get('slo')} {number(v.get('value'))} {v.get('objective', '')}".rstrip()
                     for v in verdicts if isinstance(v, dict) and v.get("slo") != "monitor")


def describe(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """(title, detail, severity) of one journal event, or None for events not worth a line."""
    kind = event.get("event")
    if kind == "RunStarted":
        faults = ", ".join(event.get("faults", []))
        on = f" on {event['target']}" if event.get("target") else ""
        return (f"run started{on}" + (" (dry run)" if event.get("dry_run") else ""),
                f"faults: {faults}" if faults else "", "info")
    if kind == "PreflightPassed":
        return "pre-flight passed", "; ".join([*event.get("checks", []), *event.get("targets", [])]), "info"
    if kind == "PreflightRefused":
        return f"pre-flight refused: {event.get('reason', '')}", "; ".join(event.get("details", [])), "error"
    if kind == "SteadyStateChecked":
        holds = bool(event.get("holds"))
        phase = "before the fault" if event.get("phase") == "before" else "after recovery"
        return (f"steady state {phase}: {'holds' if holds else 'does NOT hold'}", _verdicts(event.get("verdicts")),
                "success" if holds else "error")
    if kind == "FaultRecorded":
        return f"recorded {event.get('fault')} before injecting it", "", "info"
    if kind == "FaultInjected":
        return f"injected {event.get('fault')}", str(event.get("description", "")), "warning"
    if kind == "PolicyFired":
        target = f" on {event['target']}" if event.get("target") else ""
        return (f"policy {event.get('policy')} fired: {event.get('action')}{target}",
                evidence_text(event.get("evidence") or {}), "warning")
    if kind == "ActionApplied":
        return f"{event.get('action')} applied", str(event.get("detail", "")), "success"
    if kind == "ActionFailed":
        return f"{event.get('action')} FAILED", str(event.get("error", "")), "error"
    if kind == "BreakerChanged":
        return (f"circuit breaker {event.get('state')} for {event.get('service')}", f"weight {event.get('weight')}",
                "warning" if event.get("state") != "closed" else "success")
    if kind == "FaultShrunk":
        params = event.get("params") or {}
        return f"shrunk {event.get('fault')}", ", ".join(f"{k} {v}" for k, v in params.items()), "warning"
    if kind == "FaultRemoved":
        reason = {"rollback": "by the rollback", "end": "at the end of its duration", "abort": "by the abort",
                  "error": "after an error"}.get(str(event.get("reason")), f"({event.get('reason')})")
        return f"removed {event.get('fault')} {reason}", "", "info"
    if kind == "Reverted":
        kept = bool(event.get("kept"))
        return (f"{event.get('action')} {'KEPT (not reverted)' if kept else 'reverted'}", str(event.get("detail", "")),
                "warning" if kept else "info")
    if kind == "SteadyStateRestored":
        return f"steady state restored after {seconds(float(event.get('seconds', 0.0)))}", "", "success"
    if kind == "RunLog":
        level = str(event.get("level", "info"))
        return str(event.get("message", "")), "", level if level in ("warning", "error") else "info"
    if kind == "RunFinished":
        verdict = str(event.get("verdict", ""))
        code = f" (exit {event['exit_code']})" if event.get("exit_code") is not None else ""
        return (f"finished: {verdict}{code}", str(event.get("reason", "")),
                "success" if verdict == "passed" else "error" if verdict not in ("deviated", "aborted") else "warning")
    return None


def entries(journal: dict[str, Any]) -> list[Entry]:
    """The run's events, in order, as readable entries (SLO ticks are in the plots, not here)."""
    ours = journal.get("aftershock")
    events = ours.get("events", []) if isinstance(ours, dict) else []
    if not events and isinstance(ours, dict) and isinstance(ours.get("timeline"), list):
        events = [e for e in ours["timeline"] if isinstance(e, dict) and "event" in e]  # events kept inline
    events = [e for e in events if isinstance(e, dict)]
    if not events:
        return []
    start = next((float(e["at"]) for e in events if isinstance(e.get("at"), int | float)), 0.0)
    out: list[Entry] = []
    for event in events:
        described = describe(event)
        if described is None:
            continue
        at = event.get("at")
        offset = float(at) - start if isinstance(at, int | float) else 0.0
        out.append(Entry(offset, *described))
    return out
