"""What each demo scenario sets out to show, and the narration of a run as it happens.

Pure: run events in, sentences out. :func:`narrate` turns one event into a sentence for a
newcomer (what happened, what to watch next) or None; :func:`story_shown` decides whether a
finished run showed the scenario's story (the demo exits 0 when it did, whatever the verdict's
exit code). Used by ``aftershock demo`` (printed in headless mode) and the TUI's demo mode
(the narration bar of the live screen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaos.engine import events as ev


@dataclass(frozen=True)
class Story:
    scenario: str
    file: str
    """Experiment file name among the shipped examples."""
    action: str
    """The policy action the scenario exists to show."""
    slo: str
    """The SLO to watch."""
    intro: str
    watch: str
    """What to watch for once the fault is live."""
    after_action: str
    """What the action did, in words."""


STORIES: dict[str, Story] = {
    "latency": Story(
        "latency", "demo-payment-latency.yaml", "rollback", "checkout-p95",
        intro="500 ms of latency will be injected between order-service and payment-gateway; "
              "the fast-rollback policy removes it as soon as checkout P95 breaches 0.3 s.",
        watch="Watch checkout-p95 climb over the red objective line (0.3 s).",
        after_action="The rollback removed the fault; watch checkout-p95 fall back under the line."),
    "degrade": Story(
        "degrade", "demo-degrade.yaml", "degrade", "error-rate",
        intro="The payment gateway will answer HTTP 503 to 60% of the payments; the policy switches "
              "orders to the backup payment channel when the error rate breaches 5%.",
        watch="Watch error-rate climb over the red objective line (5%).",
        after_action="Orders now go to the backup payment channel; watch error-rate fall back although "
                     "the fault is still live."),
    "circuit-break": Story(
        "circuit-break", "demo-circuit-break.yaml", "circuit-break", "payment-probe",
        intro="Payments to the primary gateway will take 2 s; an HTTP probe of the gateway times out after "
              "1 s, and 3 consecutive probe timeouts take the gateway out of traffic.",
        watch="Watch payment-probe fail (0): three timeouts in a row open the breaker.",
        after_action="The breaker opened: the primary gateway gets no traffic, payments go to the backup."),
}

KEYS_DONE = "q quits, h shows the history."


def _value(verdicts: Iterable[object], slo: str) -> str:
    for v in verdicts:
        if getattr(v, "slo", None) == slo:
            value = getattr(v, "value", None)
            return "no data" if value is None else f"{value:.3g}"
    return "?"


def narrate(story: Story, event: ev.RunEvent) -> str | None:
    """One sentence about ``event`` for someone watching the demo, or None (not worth a line)."""
    if isinstance(event, ev.RunStarted):
        return f"Run {event.run_id} started. {story.intro} First: is the steady state healthy?"
    if isinstance(event, ev.PreflightRefused):
        return f"The run was refused before anything was injected: {event.reason}"
    if isinstance(event, ev.SteadyStateChecked) and event.phase == "before":
        if event.holds:
            return (f"Steady state holds ({story.slo} = {_value(event.verdicts, story.slo)}). "
                    "Injecting the fault now.")
        return "The steady state does not hold, so nothing is injected."
    if isinstance(event, ev.FaultInjected):
        return f"Fault live: {event.description}. {story.watch}"
    if isinstance(event, ev.PolicyFired):
        evidence = event.evidence
        if evidence.get("cause") == "breaker":
            return None  # the breaker's own transitions: BreakerChanged says them
        value = evidence.get("value")
        shown = f"{value:.3g}" if isinstance(value, int | float) else str(value or "")
        what = f"{evidence.get('slo', story.slo)} = {shown} (objective {evidence.get('objective', '?')})"
        return f"Breach: {what}. Policy {event.policy} answers with {event.action}."
    if isinstance(event, ev.ActionApplied) and event.action == story.action \
            and story.action not in ("rollback", "circuit-break"):
        return story.after_action
    if isinstance(event, ev.ActionFailed):
        return f"The {event.action} action failed: {event.error}"
    if isinstance(event, ev.BreakerChanged):
        return {"open": f"Breaker open: {event.service} weight {event.weight}; payments go to the backup. "
                        "Watch payment-probe hold again (1).",
                "half-open": f"Breaker half-open: {event.service} gets weight {event.weight} again for the trials; "
                             "one probe timeout re-opens it, 3 good ones close it.",
                "closed": f"Breaker closed: {event.service} weight {event.weight} again."}.get(
                    event.state, f"Breaker {event.state}: {event.service} weight {event.weight}.")
    if isinstance(event, ev.FaultRemoved):
        if event.reason == "rollback":
            return story.after_action
        if event.reason == "end":
            return "The fault's time is up: it was removed. Waiting for the steady state to return."
        return f"Fault removed ({event.reason})."
    if isinstance(event, ev.SteadyStateRestored):
        return f"Steady state restored {event.seconds:.1f} s after the fault was gone: the SLOs hold again."
    if isinstance(event, ev.SteadyStateChecked) and event.phase == "after" and not event.holds:
        return "The steady state did not come back within the recovery timeout."
    if isinstance(event, ev.RunFinished):
        return f"Verdict: {event.verdict} — {event.reason}."
    return None


def story_shown(story: Story, events: Iterable[ev.RunEvent]) -> tuple[bool, str]:
    """Did the run show what the scenario is for: a breach answered by the scenario's action,
    then recovery (verdict ``deviated``)? Returns (shown, why in words)."""
    events = list(events)
    finished = next((e for e in reversed(events) if isinstance(e, ev.RunFinished)), None)
    if finished is None:
        return False, "the run did not finish"
    applied = any(isinstance(e, ev.ActionApplied) and e.action == story.action for e in events)
    restored = any(isinstance(e, ev.SteadyStateRestored) for e in events)
    if finished.verdict == "aborted":
        return False, "the run was aborted"
    if finished.verdict == "passed":
        return False, (f"{story.slo} never breached, so the {story.action} policy had nothing to do "
                       "(the host may be too fast for the fault: see `aftershock doctor`)")
    if not applied:
        return False, f"the {story.action} action was not applied ({finished.verdict}: {finished.reason})"
    if not restored or finished.verdict != "deviated":
        return False, f"the service did not recover ({finished.verdict}: {finished.reason})"
    return True, f"{story.slo} breached, {story.action} answered it and the service recovered"
