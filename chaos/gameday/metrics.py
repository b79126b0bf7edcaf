"""Aftershock's own Prometheus metrics (an own registry, no globals): what ``gameday serve`` serves
at ``/metrics`` and what ``aftershock run --pushgateway`` (and the in-cluster CronJob) pushes to a
Pushgateway, with the reason labels of skipped due times. One name per concept, in Prometheus'
conventions (base units, ``_total`` counters, ``_timestamp_seconds``, ``_info``), checked by
``promtool check metrics`` in the tests.

=====================================================  ===========================================
``aftershock_build_info{version,python}``              1; the version of the process
``aftershock_runs_total{verdict}``                     experiment runs finished, by verdict
``aftershock_run_duration_seconds{schedule}``          game days (schedule = its name) and single
                                                       runs (schedule = "") by duration
``aftershock_last_success_timestamp_seconds{schedule}`` end of the last passed game day / run
``aftershock_resilience_score{schedule}``              the last game day's resilience score (0-100)
``aftershock_gamedays_total{schedule,verdict}``        game days finished
``aftershock_schedule_skipped_total{schedule,reason}`` due times not run; reason ``missed`` (the
                                                       scheduler was not running), ``paused``, ...
``aftershock_schedule_next_fire_timestamp_seconds``    next fire time of each schedule
``aftershock_schedule_lag_seconds``                    start minus due time of scheduled runs
``aftershock_policy_actions_total{action}``            policy actions fired
``aftershock_faults_active``                           faults injected right now (the fault proxy
                                                       has the same name, with a ``kind`` label)
=====================================================  ===========================================
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chaos.engine import events as ev
from chaos.version import __version__

REASONS = ("missed", "superseded", "deadline", "paused", "suspended", "blackout", "concurrency", "overlap",
           "gate", "other")
DURATION_BUCKETS = (1, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)

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
        self.build_info = Gauge("aftershock_build_info", "Aftershock's version and Python (always 1)",
                                ["version", "python"], registry=r)
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)
        self.next_fire = Gauge("aftershock_schedule_next_fire_timestamp_seconds",
                               "Next fire time of each schedule (Unix seconds)", ["schedule"], registry=r)
        self.skips = Counter("aftershock_schedule_skipped_total",
                             "Due times not run, by schedule and reason (missed: the scheduler was not running "
                             "at the due time; others: paused, blackout, gate, concurrency, ...)",
                             ["schedule", "reason"], registry=r)
        self.runs = Counter("aftershock_runs_total", "Experiment runs finished, by verdict",
                            ["verdict"], registry=r)
        self.gamedays = Counter("aftershock_gamedays_total", "Game days finished, by schedule and verdict",
                                ["schedule", "verdict"], registry=r)
        self.run_duration = Histogram("aftershock_run_duration_seconds",
                                      "Duration of finished game days (schedule: its name) and single runs "
                                      "(schedule: empty)", ["schedule"], buckets=DURATION_BUCKETS, registry=r)
        self.last_success = Gauge("aftershock_last_success_timestamp_seconds",
                                  "End of the last passed game day (schedule: its name) or run (Unix seconds)",
                                  ["schedule"], registry=r)
        self.score = Gauge("aftershock_resilience_score", "Resilience score (0-100) of the last game day",
                           ["schedule"], registry=r)
        self.policy_actions = Counter("aftershock_policy_actions_total", "Policy actions fired, by action",
                                      ["action"], registry=r)
        self.faults_active = Gauge("aftershock_faults_active", "Faults injected right now by this process",
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
        self._known: set[str] = set()

    def scheduled(self, schedule: str, next_fire: float) -> None:
        """A schedule's next fire time (its skip counters start at 0 the first time it is seen)."""
        self.next_fire.labels(schedule=schedule).set(next_fire)
        if schedule not in self._known:
            self._known.add(schedule)
            for reason in REASONS:
                self.skips.labels(schedule=schedule, reason=reason)

    def skipped(self, schedule: str, reason: str, count: int = 1) -> None:
        self.skips.labels(schedule=schedule, reason=reason_label(reason)).inc(count)

    def finished(self, schedule: str, verdict: str, duration_s: float, score: int | None, ended: float,
                 *, gameday: bool = True) -> None:
        """A game day (or, with ``gameday=False``, a single run) ended."""
        self.run_duration.labels(schedule=schedule).observe(max(0.0, duration_s))
        if gameday:
            self.gamedays.labels(schedule=schedule, verdict=verdict).inc()
        if verdict == "passed":
            self.last_success.labels(schedule=schedule).set(ended)
        if score is not None:
            self.score.labels(schedule=schedule).set(score)

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

    def push(self, url: str, grouping: dict[str, str]) -> str:
        """Push this registry to a Pushgateway (job ``aftershock``, grouped by ``experiment`` or
        ``gameday``). POST (pushadd): a failed run does not erase the last success pushed before it.
        Returns "" or why the push failed (a push never changes a verdict)."""
        from prometheus_client import pushadd_to_gateway

        try:
            pushadd_to_gateway(url, job="aftershock", registry=self.registry, grouping_key=grouping, timeout=10)
        except OSError as exc:
            return f"cannot push metrics to {url}: {exc}"
        return ""
