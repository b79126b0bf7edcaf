"""The words of every run event: one renderer for the live CLI view, the progress lines, ``show``,
the report and the TUI.

:func:`words` takes an event — typed (:data:`chaos.engine.events.Event`, as it is published) or its
JSON form (``to_dict``, as the journal keeps it) — and answers its :class:`Words`: a title, a detail,
a severity, and the detail's items when it is a list (pre-flight checks). Every consumer shows these
words and only chooses the layout (one line, two columns, colours); none words an event itself.
A fault's words come from its kind (``FaultKind.words``; the event's ``description`` is the kind's
``describe`` of the fault, set by ``chaos.engine.runs``). Pure: no I/O, no Textual.

Also here: numbers and durations in words (:func:`number`, :func:`seconds`), a decision's evidence
(:func:`evidence_text`), an SLO tick (:func:`slo_line`) and the run's timing labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chaos import registry
from chaos.engine import events as ev
from chaos.slo.verdicts import MONITOR, Verdict

Severity = Literal["info", "warning", "error", "success"]

TIMING_LABELS = {
    "breach_to_action_s": "breach → policy action",
    "breach_to_fault_removed_s": "breach → fault removed",
    "breach_to_slo_recovered_s": "breach → SLO recovered",
    "action_to_slo_recovered_s": "action → SLO recovered",
}

STATUS_MARK = {"ok": "✓", "pending": "…", "breached": "✗", "no-data": "?", "unavailable": "!"}

REMOVAL_REASONS = {"rollback": "by the rollback", "end": "at the end of its duration", "abort": "by the abort",
                   "error": "after an error"}


@dataclass(frozen=True)
class Words:
    """How one event reads."""

    title: str
    detail: str = ""
    severity: Severity = "info"
    items: tuple[str, ...] = ()
    """The detail as separate items, when it is a list (``detail`` joins them with ``; ``)."""

    def line(self, sep: str = ": ") -> str:
        """Title and detail on one line."""
        return f"{self.title}{sep}{self.detail}" if self.detail else self.title


# ------------------------------------------------------------------------------------- numbers in words


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


def evidence_text(evidence: Mapping[str, Any]) -> str:
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


def slo_line(verdicts: Iterable[Verdict]) -> str:
    """An SLO tick on one line: ``checkout-p95 0.586 < 0.3 ✗  error-rate 0 < 0.05 ✓`` (no monitor row)."""
    return "  ".join(" ".join(p for p in (v.slo, number(v.value), v.objective, STATUS_MARK.get(v.status, v.status)) if p)
                     for v in verdicts if v.slo != MONITOR)


def fault_words(fault_type: str) -> str:
    """The noun phrase of a fault type (``network delay``), from its kind; the type itself when no
    installed kind has it."""
    kind = registry.faults.get(fault_type) if fault_type else None
    return kind.words if kind is not None else fault_type


def describe_fault(fault: Any) -> str:
    """What a fault does, in its kind's words (``FaultKind.describe``: ``latency 500ms ± 20ms through the
    proxy 127.0.0.1:18080 → payment-gateway``); empty when no installed kind has its type."""
    kind = registry.faults.get(str(getattr(fault, "type", "")))
    return kind.describe(fault) if kind is not None else ""


def _verdicts(verdicts: Any) -> str:
    if not isinstance(verdicts, list):
        return ""
    return ", ".join(f"{v.get('slo')} {number(v.get('value'))} {v.get('objective', '')}".rstrip()
                     for v in verdicts if isinstance(v, dict) and v.get("slo") != MONITOR)


def _str(e: Mapping[str, Any], key: str) -> str:
    value = e.get(key)
    return "" if value is None else str(value)


def _items(e: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = e.get(key)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


# ------------------------------------------------------------------------------------- one per event


def _run_started(e: Mapping[str, Any]) -> Words:
    on = f" on {e['target']}" if e.get("target") else ""
    faults = ", ".join(_items(e, "faults"))
    return Words(f"run {_str(e, 'run_id')}: {_str(e, 'experiment')}{on}" + (" (dry run)" if e.get("dry_run") else ""),
                 f"faults {faults}" if faults else "")


def _preflight_passed(e: Mapping[str, Any]) -> Words:
    items = (*(f"✓ {c}" for c in _items(e, "checks")), *(f"target: {t}" for t in _items(e, "targets")))
    return Words("pre-flight passed", "; ".join(items), "info", items)


def _preflight_refused(e: Mapping[str, Any]) -> Words:
    items = _items(e, "details")
    return Words(f"pre-flight refused: {_str(e, 'reason')}", "; ".join(items), "error", items)


def _steady_state_checked(e: Mapping[str, Any]) -> Words:
    holds = bool(e.get("holds"))
    phase = "before the fault" if e.get("phase") == "before" else "after recovery"
    return Words(f"steady state {phase}: {'holds' if holds else 'does NOT hold'}", _verdicts(e.get("verdicts")),
                 "success" if holds else "error")


def _fault_recorded(e: Mapping[str, Any]) -> Words:
    at, deadline = e.get("at"), e.get("deadline")
    left = (f"deadline in {seconds(max(0.0, float(deadline) - float(at)))}"
            if isinstance(at, int | float) and isinstance(deadline, int | float) and deadline else "")
    return Words(f"recorded {_str(e, 'fault')} before injecting it", left)


def _fault_injected(e: Mapping[str, Any]) -> Words:
    what = fault_words(_str(e, "fault_type"))
    return Words(f"injected {_str(e, 'fault')}" + (f" ({what})" if what else ""), _str(e, "description"), "warning")


def _policy_fired(e: Mapping[str, Any]) -> Words:
    target = f" on {e['target']}" if e.get("target") else ""
    evidence = e.get("evidence")
    return Words(f"policy {_str(e, 'policy')} fired → {_str(e, 'action')}{target}",
                 evidence_text(evidence if isinstance(evidence, Mapping) else {}), "warning")


def _action_applied(e: Mapping[str, Any]) -> Words:
    return Words(f"{_str(e, 'action')} applied", _str(e, "detail"), "success")


def _action_failed(e: Mapping[str, Any]) -> Words:
    return Words(f"{_str(e, 'action')} FAILED", _str(e, "error"), "error")


def _breaker_changed(e: Mapping[str, Any]) -> Words:
    state = _str(e, "state")
    return Words(f"circuit breaker {state} for {_str(e, 'service')}", f"weight {_str(e, 'weight')}",
                 "warning" if state != "closed" else "success")


def _fault_shrunk(e: Mapping[str, Any]) -> Words:
    params = e.get("params")
    shown = ", ".join(f"{k} {v}" for k, v in params.items()) if isinstance(params, Mapping) else ""
    return Words(f"shrunk {_str(e, 'fault')}", shown, "warning")


def _fault_removed(e: Mapping[str, Any]) -> Words:
    reason = _str(e, "reason")
    return Words(f"removed {_str(e, 'fault')} {REMOVAL_REASONS.get(reason, f'({reason})')}", "",
                 "warning" if reason in ("abort", "error") else "info")


def _reverted(e: Mapping[str, Any]) -> Words:
    kept = bool(e.get("kept"))
    return Words(f"{_str(e, 'action')} {'KEPT (not reverted)' if kept else 'reverted'}", _str(e, "detail"),
                 "warning" if kept else "info")


def _steady_state_restored(e: Mapping[str, Any]) -> Words:
    value = e.get("seconds")
    return Words(f"steady state restored after {seconds(float(value) if isinstance(value, int | float) else 0.0)}",
                 "", "success")


def _run_log(e: Mapping[str, Any]) -> Words:
    level = _str(e, "level")
    return Words(_str(e, "message"), "", "warning" if level == "warning" else "error" if level == "error" else "info")


def _run_finished(e: Mapping[str, Any]) -> Words:
    verdict = _str(e, "verdict")
    code = f" (exit {e['exit_code']})" if e.get("exit_code") not in (None, 0) else ""  # 0 is "passed"
    severity: Severity = ("success" if verdict == "passed" else "warning" if verdict in ("deviated", "aborted")
                          else "error")
    return Words(f"verdict: {verdict}{code}", _str(e, "reason"), severity)


WORDERS: dict[str, Callable[[Mapping[str, Any]], Words] | None] = {
    ev.RunStarted.kind: _run_started,
    ev.PreflightPassed.kind: _preflight_passed,
    ev.PreflightRefused.kind: _preflight_refused,
    ev.SteadyStateChecked.kind: _steady_state_checked,
    ev.FaultRecorded.kind: _fault_recorded,
    ev.FaultInjected.kind: _fault_injected,
    ev.SloSampled.kind: None,  # ticks are charted (and :func:`slo_line` for a progress line), not listed
    ev.PolicyFired.kind: _policy_fired,
    ev.ActionApplied.kind: _action_applied,
    ev.ActionFailed.kind: _action_failed,
    ev.BreakerChanged.kind: _breaker_changed,
    ev.FaultShrunk.kind: _fault_shrunk,
    ev.FaultRemoved.kind: _fault_removed,
    ev.Reverted.kind: _reverted,
    ev.SteadyStateRestored.kind: _steady_state_restored,
    ev.RunLog.kind: _run_log,
    ev.RunFinished.kind: _run_finished,
}
"""Event name → its words (None: not worded). Every event of :data:`chaos.engine.events.Event` has an
entry (a test holds it)."""


def words(event: ev.Event | Mapping[str, Any]) -> Words | None:
    """The words of one event (typed, or its JSON form from a journal); None for an event not worded
    (SLO ticks) or one this release does not know."""
    worder = WORDERS.get(event.kind if isinstance(event, ev.RunEvent) else str(event.get("event", "")))
    if worder is None:
        return None
    return worder(event.to_dict() if isinstance(event, ev.RunEvent) else event)
