"""Chaos Toolkit formats: an Aftershock experiment as a Chaos Toolkit experiment document.

Used by ``aftershock export --format chaostoolkit`` and by the journal (CTK journals embed the
experiment). The document runs with the real ``chaos run``:

* ``configuration`` — ``aftershock_run_id`` (a dynamic probe: a fresh run id per ``chaos run``),
  ``aftershock_state_dir`` (env ``AFTERSHOCK_STATE_DIR``), ``aftershock_prometheus_url`` (env
  ``AFTERSHOCK_PROMETHEUS_URL``, default the experiment's), ``aftershock_monitor`` (connection
  settings) and ``aftershock_experiment`` (the validated Aftershock document the actions inject from);
* ``steady-state-hypothesis`` — each steady-state SLO as a ``slo_holds`` probe with tolerance
  ``true``, plus ``slos-held-during-run`` (false once the guard saw a breach: the journal deviates);
* ``method`` — ``inject_fault`` per fault, ``hold_faults`` for the fault window (ends early when the
  guard removed them), ``remove_faults``, ``await_steady_state`` (``spec.recovery.timeout``);
* ``rollbacks`` — ``remove_faults`` (idempotent); ``controls`` — the SLO guard.

Prometheus header values are not written (they may be secrets): :data:`REDACTED` stands for them
and the extension reads them from the environment. Pure.
"""

from __future__ import annotations

from typing import Any

from chaos.model.experiment import Experiment
from chaos.version import __version__

PROBES = "chaos.interop.ctk_probes"
ACTIONS = "chaos.interop.ctk_actions"
GUARD = "chaos.interop.ctk_guard"
REDACTED = "<redacted>"
RUN_ID = "${aftershock_run_id}"
STATE_DIR = "${aftershock_state_dir}"
PROMETHEUS = "${aftershock_prometheus_url}"
MONITOR = "${aftershock_monitor}"
EXPERIMENT = "${aftershock_experiment}"
HELD_PROBE = "slos-held-during-run"
GUARD_NAME = "aftershock-slo-guard"
GUARDED_ACTIONS = ("rollback", "abort", "degrade", "notify")
"""Policy actions the guard applies itself; circuit-break and shrink fail there and escalate."""


def header_env(name: str) -> str:
    """The environment variable that supplies a redacted Prometheus header value at run time."""
    return "AFTERSHOCK_PROMETHEUS_HEADER_" + "".join(c if c.isalnum() else "_" for c in name).upper()


def experiment_document(exp: Experiment) -> dict[str, Any]:
    """The validated experiment as a plain document, header values redacted."""
    doc = exp.model_dump(mode="json", by_alias=True, exclude_none=True)
    monitor = doc["spec"]["monitor"]
    monitor["headers"] = {name: REDACTED for name in monitor.get("headers", {})}
    return doc


def _python(module: str, func: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def slo_probe(exp: Experiment, name: str) -> dict[str, Any]:
    slo = exp.spec.slo(name)
    return {
        "type": "probe",
        "name": slo.name,
        "tolerance": True,  # slo_holds returns whether "query <op> value" holds now
        "provider": _python(PROBES, "slo_holds", {"query": slo.query, "op": slo.objective.op,
                                                  "value": slo.objective.value, "prometheus": PROMETHEUS,
                                                  "monitor": MONITOR}),
    }


def _action(name: str, func: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "action", "name": name, "provider": _python(ACTIONS, func, arguments)}


def to_ctk_experiment(exp: Experiment) -> dict[str, Any]:
    """The experiment in Chaos Toolkit's experiment format (see the module docstring)."""
    doc = experiment_document(exp)
    monitor = doc["spec"]["monitor"]
    method = [_action(f"inject-{f.name}", "inject_fault",
                      {"experiment": EXPERIMENT, "fault": f.name, "run_id": RUN_ID, "state_dir": STATE_DIR})
              for f in exp.spec.faults]
    method += [
        _action("hold-faults", "hold_faults", {"run_id": RUN_ID, "seconds": exp.spec.fault_window_s,
                                               "state_dir": STATE_DIR}),
        _action("remove-faults", "remove_faults", {"run_id": RUN_ID, "state_dir": STATE_DIR}),
        _action("await-steady-state", "await_steady_state",
                {"experiment": EXPERIMENT, "timeout": exp.spec.recovery.timeout_s, "prometheus": PROMETHEUS}),
    ]
    held = {"type": "probe", "name": HELD_PROBE, "tolerance": True,
            "provider": _python(PROBES, "slos_held_during_run", {"run_id": RUN_ID, "state_dir": STATE_DIR})}
    return {
        "version": "1.0.0",
        "title": exp.name,
        "description": exp.metadata.description or f"Aftershock experiment {exp.name}",
        "tags": [f"{k}:{v}" for k, v in exp.metadata.labels.items()] + ["aftershock"],
        "configuration": {
            "aftershock_run_id": {"type": "probe", "name": "aftershock-new-run-id",
                                  "provider": _python(PROBES, "new_run_id", {})},
            "aftershock_state_dir": {"type": "env", "key": "AFTERSHOCK_STATE_DIR", "default": ""},
            "aftershock_prometheus_url": {"type": "env", "key": "AFTERSHOCK_PROMETHEUS_URL",
                                          "default": monitor["prometheus"]},
            "aftershock_monitor": {k: v for k, v in monitor.items() if k != "prometheus"},
            "aftershock_experiment": doc,
        },
        "controls": [{"name": GUARD_NAME, "provider": {"type": "python", "module": GUARD}}],
        "steady-state-hypothesis": {
            "title": f"{exp.name} steady state",
            "probes": [slo_probe(exp, n) for n in exp.spec.steady_state] + [held],
        },
        "method": method,
        "rollbacks": [_action("rollback-remove-faults", "remove_faults", {"run_id": RUN_ID, "state_dir": STATE_DIR})],
        "extensions": [{"name": "aftershock", "version": __version__}],
    }


def export_notes(exp: Experiment) -> list[str]:
    """What the exported document carries differently from ``aftershock run`` (shown by ``export``)."""
    notes: list[str] = []
    for policy in exp.spec.policies:
        if policy.action not in GUARDED_ACTIONS:
            notes.append(f"policy {policy.name} ({policy.action}): the Chaos Toolkit guard cannot apply it; "
                         "it fails there and escalates like a failed action (use `aftershock run` for it)")
    if exp.spec.monitor.headers:
        notes.append("Prometheus header values are not written; set AFTERSHOCK_PROMETHEUS_HEADER_<NAME> "
                     f"for {', '.join(sorted(exp.spec.monitor.headers))} when running it")
    if exp.spec.gate is not None:
        notes.append("the error-budget gate (spec.gate) is not checked by Chaos Toolkit runs")
    return notes
