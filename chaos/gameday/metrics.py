"""The scheduler's own Prometheus metrics (an own registry, no globals) and the reason labels of
skipped due times. Used by :mod:`chaos.gameday.service` and served by ``aftershock gameday serve``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chaos.engine import events as ev

REASONS = ("missed", "superseded", "deadline", "paused", "suspended", "blackout", "concurrency", "overlap",
           "gate", "other")

BREAKER_LEVELS = {"closed": 0, "half-open": 1, "open": 2}
"""``aftershock_breaker_state`` values."""


def reason_label(reason: str) -> str:
    """A bounded label for a free-text skip reason."""
    for prefix, label in (("missed", "missed"), ("superseded", "superseded"), ("not started within", "deadline"),
                          ("schedule paused", "paused"), ("schedule suspended", "suspended"),
                          ("blackout", "blackout"), ("concurrency", "concurrency"), ("another run", "overlap"),
                          ("gate", "gate")):
        if reason.startswith(prefix):
            return label
    return "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.next_fire = Gauge("aftershock_schedule_next_fire_timestamp_seconds",
                               "Next fire time of each schedule (Unix seconds)", ["schedule"], registry=r)
        self.missed = Counter("aftershock_schedule_missed_total", "Due times skipped, by reason",
                              ["reason"], registry=r)
        self.runs = Counter("aftershock_runs_total", "Finished runs (experiments and game days) by verdict",
                            ["verdict"], registry=r)
        self.run_duration = Histogram("aftershock_run_duration_seconds", "Duration of finished game days",
                                      buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200), registry=r)
        self.policy_actions = Counter("aftershock_policy_actions_total", "Policy actions fired, by action",
                                      ["action"], registry=r)
        self.faults_active = Gauge("aftershock_faults_active", "Faults currently injected by this scheduler",
                                   registry=r)
        self.lag = Histogram("aftershock_schedule_lag_seconds", "Start time minus due time of scheduled runs",
                             buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 600), registry=r)
        self.breaker_state = Gauge("aftershock_breaker_state",
                                   "Circuit-break state per policy and service: 0 closed, 1 half-open, 2 open",
                                   ["policy", "service"], registry=r)
        self.breaker_changes = Counter("aftershock_breaker_transitions_total",
                                       "Circuit-break state changes, by policy, service and new state",
                                       ["policy", "service", "state"], registry=r)
        self._live: set[tuple[str, str]] = set()
        for reason in REASONS:
            self.missed.labels(reason=reason)

    def skipped(self, reason: str, count: int = 1) -> None:
        self.missed.labels(reason=reason_label(reason)).inc(count)

    def on_event(self, event: ev.RunEvent) -> None:
        """Engine listener: policy actions, live faults, experiment verdicts."""
        if isinstance(event, ev.PolicyFired):
            self.policy_actions.labels(action=event.action).inc()
        elif isinstance(event, ev.FaultInjected):
            self._live.add((event.run_id, event.fault))
            self.faults_active.set(len(self._live))
        elif isinstance(event, ev.BreakerChanged):
            self.breaker_state.labels(policy=event.policy, service=event.service).set(BREAKER_LEVELS[event.state])
            self.breaker_changes.labels(policy=event.policy, service=event.service, state=event.state).inc()
        elif isinstance(event, ev.FaultRemoved):
            self._live.discard((event.run_id, event.fault))
            self.faults_active.set(len(self._live))
        elif isinstance(event, ev.RunFinished):
            self.runs.labels(verdict=event.verdict).inc()
