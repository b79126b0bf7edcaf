"""The policy engine: graded recovery when an SLO breaches.

Callers: the run engine (``chaos.engine``). The package is pure — no I/O,
no clock, never imports ``chaos.clients``; effects go through the Protocols of
:mod:`chaos.policy.actuators`, implemented by the adapters in ``chaos.clients``.

* :mod:`chaos.policy.decisions` — :class:`~chaos.policy.decisions.Decider`: (policies, verdict history,
  tick time, actuator outcomes) → ordered decisions.
* :mod:`chaos.policy.breaker` — the circuit-breaker state machine.
* :mod:`chaos.policy.actions` — action, decision, evidence, outcome and revert value types.
* :mod:`chaos.policy.actuators` — Protocols per capability, :class:`RecordingActuators` for tests.
* :mod:`chaos.policy.ledger` — what was applied and how to undo it; :func:`final_reverts`.
* :mod:`chaos.policy.executor` — applies decisions/reverts through actuators, idempotently.
"""
