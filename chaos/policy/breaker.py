"""Circuit-breaker state machine of the ``circuit-break`` action (pure, tick time only).

Called by :mod:`chaos.policy.decisions` once per tick for every circuit-break policy. It never reads a
clock: ``now`` is the tick time. Each state change emits a :class:`~chaos.policy.actions.CircuitBreak`
action, which the decider turns into a decision with evidence::

    closed ──trip──▶ open (weight → with.weight, default 0)
    open ──openFor elapsed──▶ half-open (weight → halfOpenWeight, default 10)
    half-open ──SLO holds on halfOpenProbes consecutive ticks──▶ closed (original weight restored)
    half-open ──SLO breaching (pending or breached)──▶ open again (openFor restarts)

A probe that is neither holding nor breaching (no data, monitor unavailable, no verdict) is not a
success: it resets the half-open probe count without reopening.

While closed, the breaker counts in *generations* (gobreaker's ``Interval``): a generation starts when
the breaker is first seen closed or closes again, and ``resetAfter`` (default 60 s, ``0s`` = never)
after its start a new one begins and the failure count is cleared (:func:`roll`). So "3 consecutive
timeouts" never joins two timeouts of one generation to one of the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chaos.model.durations import parse_duration
from chaos.model.policies import CircuitBreakWith
from chaos.policy.actions import BreakerPhase, CircuitBreak, WeightTarget

Probe = Literal["ok", "breach", "unknown", "same"]
"""What one tick says about the breaker's SLO: holds, does not hold (raw), cannot tell, or nothing new
(no evaluation since the last tick: a half-open trial is neither counted nor reset)."""


@dataclass(frozen=True)
class BreakerConfig:
    """One circuit-break policy's settings: the weight to set, for how long, and its half-open trial."""

    target: WeightTarget
    weight: int = 0
    open_for_s: float = 30.0
    half_open_weight: int = 10
    half_open_probes: int = 3
    reset_after_s: float = 60.0
    """Closed: counts are cleared this long after the generation started (0: never)."""

    @classmethod
    def from_with(cls, spec: CircuitBreakWith) -> BreakerConfig:
        return cls(
            target=WeightTarget(service=spec.service, namespace=spec.namespace, admin=spec.admin,
                                token_env=spec.token_env, token_file=spec.token_file),
            weight=spec.weight,
            open_for_s=parse_duration(spec.open_for),
            half_open_weight=spec.half_open_weight,
            half_open_probes=spec.half_open_probes,
            reset_after_s=parse_duration(spec.reset_after),
        )


@dataclass(frozen=True)
class BreakerState:
    """Where one breaker is: its phase and since when."""

    phase: BreakerPhase = "closed"
    since: float | None = None
    """Tick time the current phase was entered (None while closed from the start)."""
    probes: int = 0
    """Consecutive holding ticks seen while half-open."""
    generation: float | None = None
    """Closed: tick time the current counting generation started (None until the first tick)."""


CLOSED = BreakerState()


@dataclass(frozen=True)
class Transition:
    """A breaker's next state and the weight change it makes, if any."""

    state: BreakerState
    action: CircuitBreak | None
    """The weight change to make, or None when the phase did not change."""
    reason: str = ""


def roll(config: BreakerConfig, state: BreakerState, now: float) -> tuple[BreakerState, bool]:
    """Start a new closed generation when ``resetAfter`` has elapsed → (state, counts cleared?).

    Called once per tick before the tick's verdict is counted. Only a closed breaker counts
    generations; the first call starts the first one.
    """
    if state.phase != "closed":
        return state, False
    if state.generation is None:
        return BreakerState("closed", state.since, 0, now), False
    if config.reset_after_s > 0 and now - state.generation >= config.reset_after_s:
        return BreakerState("closed", state.since, 0, now), True
    return state, False


def step(config: BreakerConfig, state: BreakerState, now: float, probe: Probe, trip: bool) -> Transition:
    """Advance the breaker by one tick.

    ``trip`` is true when the policy fired this tick (its ``when`` condition, once per episode) or an
    escalation targets this breaker. ``probe`` classifies the SLO's verdict of this tick.
    """
    match state.phase:
        case "closed":
            if trip:
                return _open(config, now, "tripped")
            return Transition(state, None)
        case "open":
            assert state.since is not None
            if now - state.since >= config.open_for_s:
                return Transition(
                    BreakerState("half-open", now, 0),
                    CircuitBreak(config.target, config.half_open_weight, "half-open"),
                    f"open for {now - state.since:.1f}s (openFor {config.open_for_s:g}s): half-open, "
                    f"probing with weight {config.half_open_weight}",
                )
            return Transition(state, None)
        case "half-open":
            if probe == "same" and not trip:
                return Transition(state, None)
            if probe == "breach" or trip:
                return _open(config, now, "SLO breached while half-open: open again")
            if probe == "ok":
                probes = state.probes + 1
                if probes >= config.half_open_probes:
                    return Transition(
                        BreakerState("closed", now, 0, now),
                        CircuitBreak(config.target, None, "closed"),
                        f"SLO held for {probes} half-open probes: closed, original weight restored",
                    )
                return Transition(BreakerState("half-open", state.since, probes), None)
            return Transition(BreakerState("half-open", state.since, 0), None)
    raise AssertionError(state.phase)  # pragma: no cover


def _open(config: BreakerConfig, now: float, why: str) -> Transition:
    return Transition(
        BreakerState("open", now, 0),
        CircuitBreak(config.target, config.weight, "open"),
        f"{why}: weight {config.weight} for {config.open_for_s:g}s",
    )
