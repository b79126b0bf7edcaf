"""Chaos Toolkit formats: an Aftershock experiment as a Chaos Toolkit experiment document.

Used by ``aftershock export --format chaostoolkit`` and by the journal (CTK journals embed the
experiment). The document runs with the real ``chaos run``:

* ``configuration`` — ``aftershock_run_id`` (env ``AFTERSHOCK_RUN_ID``; empty by default: each
  ``chaos run`` process then makes a fresh one, ``chaos.interop.ctk_runtime.Runtime.run_id``),
  ``aftershock_state_dir`` (env ``AFTERSHOCK_STATE_DIR``), ``aftershock_prometheus_url`` (env
  ``AFTERSHOCK_PROMETHEUS_URL``, default the experiment's), ``aftershock_monitor`` (connection
  settings) and ``aftershock_experiment`` (the validated Aftershock document the actions inject from);
* ``steady-state-hypothesis`` — each steady-state SLO as a ``slo_holds`` probe with tolerance
  ``true``, plus ``slos-held-during-run`` (false once the guard saw a breach: the journal deviates);
* ``method`` — ``inject_fault`` per fault, ``hold_faults`` for the fault window (ends early when the
  guard removed them), ``remove_faults``, ``await_steady_state`` (``spec.recovery.timeout``);
* ``rollbacks`` — ``remove_faults`` (idempotent); ``controls`` — the SLO guard.

* ``secrets`` — the Prometheus credentials the monitor uses, as Chaos Toolkit secrets of type
  ``env`` in the scope :data:`SECRETS_SCOPE` (see :func:`prometheus_secrets`); the SLO probes, the
  recovery wait and the guard get their values from Chaos Toolkit at run time.

No credential value is written: URL userinfo, bearer tokens, passwords and header values are
referenced by environment variable name only (header values in the embedded document are
:data:`REDACTED`). Pure.
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
SECRETS_SCOPE = "aftershock-prometheus"
"""The Chaos Toolkit secrets scope holding the Prometheus credentials (``secrets: [scope]`` on a provider)."""
USERINFO_ENV = "AFTERSHOCK_PROMETHEUS_USERINFO"
"""``user:password`` for a Prometheus URL that was written with userinfo (the URL is exported without it)."""
GUARDED_ACTIONS = ("rollback", "abort", "degrade", "notify")
"""Policy actions the guard applies itself; circuit-break and shrink fail there and escalate."""


def header_env(name: str) -> str:
    """The environment variable that supplies a redacted Prometheus header value at run time."""
    return "AFTERSHOCK_PROMETHEUS_HEADER_" + "".join(c if c.isalnum() else "_" for c in name).upper()


def header_secret(name: str) -> str:
    """The key of a Prometheus header value in the :data:`SECRETS_SCOPE` secrets."""
    return f"header:{name}"


def prometheus_secrets(exp: Experiment) -> dict[str, dict[str, str]]:
    """Chaos Toolkit ``secrets`` entries (``type: env``) for each credential the monitor uses:
    ``userinfo`` (:data:`USERINFO_ENV`), ``bearer_token`` (the experiment's ``bearerTokenEnv``),
    ``basic_password`` (``basicAuth.passwordEnv``) and ``header:<Name>`` (:func:`header_env`).
    Only names are written; Chaos Toolkit reads the values (and refuses a run without them)."""
    monitor = exp.spec.monitor
    out: dict[str, dict[str, str]] = {}
    if monitor.prometheus_userinfo is not None:
        out["userinfo"] = {"type": "env", "key": USERINFO_ENV}
    if monitor.bearer_token_env:
        out["bearer_token"] = {"type": "env", "key": monitor.bearer_token_env}
    if monitor.basic_auth is not None and monitor.basic_auth.password_env:
        out["basic_password"] = {"type": "env", "key": monitor.basic_auth.password_env}
    for name in sorted(monitor.headers):
        out[header_secret(name)] = {"type": "env", "key": header_env(name)}
    return out


def experiment_document(exp: Experiment) -> dict[str, Any]:
    """The validated experiment as a plain document, header values redacted."""
    doc = exp.model_dump(mode="json", by_alias=True, exclude_none=True)
    monitor = doc["spec"]["monitor"]
    monitor["headers"] = {name: REDACTED for name in monitor.get("headers", {})}
    return doc


def _python(module: str, func: str, arguments: dict[str, Any], secrets: bool = False) -> dict[str, Any]:
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    if secrets:
        provider["secrets"] = [SECRETS_SCOPE]
    return provider


def slo_probe(exp: Experiment, name: str) -> dict[str, Any]:
    slo = exp.spec.slo(name)
    if slo.probe is not None:  # an SLO probe (http, kubernetes): run once by the extension, no Prometheus
        return {"type": "probe", "name": slo.name, "tolerance": True,
                "provider": _python(PROBES, "probe_holds",
                                    {"probe": slo.probe.model_dump(mode="json", by_alias=True, exclude_none=True),
                                     "name": slo.name})}
    return {
        "type": "probe",
        "name": slo.name,
        "tolerance": True,  # slo_holds returns whether "query <op> value" holds now
        "provider": _python(PROBES, "slo_holds", {"query": slo.query, "op": slo.objective.op,
                                                  "value": slo.objective.value, "prometheus": PROMETHEUS,
                                                  "monitor": MONITOR}, bool(prometheus_secrets(exp))),
    }


def _action(name: str, func: str, arguments: dict[str, Any], secrets: bool = False) -> dict[str, Any]:
    return {"type": "action", "name": name, "provider": _python(ACTIONS, func, arguments, secrets)}


def to_ctk_experiment(exp: Experiment) -> dict[str, Any]:
    """The experiment in Chaos Toolkit's experiment format (see the module docstring)."""
    doc = experiment_document(exp)
    monitor = doc["spec"]["monitor"]
    secrets = prometheus_secrets(exp)
    method = [_action(f"inject-{f.name}", "inject_fault",
                      {"experiment": EXPERIMENT, "fault": f.name, "run_id": RUN_ID, "state_dir": STATE_DIR})
              for f in exp.spec.faults]
    method += [
        _action("hold-faults", "hold_faults", {"run_id": RUN_ID, "seconds": exp.spec.fault_window_s,
                                               "state_dir": STATE_DIR}),
        _action("remove-faults", "remove_faults", {"run_id": RUN_ID, "state_dir": STATE_DIR}),
        _action("await-steady-state", "await_steady_state",
                {"experiment": EXPERIMENT, "timeout": exp.spec.recovery.timeout_s, "prometheus": PROMETHEUS},
                bool(secrets)),
    ]
    held = {"type": "probe", "name": HELD_PROBE, "tolerance": True,
            "provider": _python(PROBES, "slos_held_during_run", {"run_id": RUN_ID, "state_dir": STATE_DIR})}
    out: dict[str, Any] = {
        "version": "1.0.0",
        "title": exp.name,
        "description": exp.metadata.description or f"Aftershock experiment {exp.name}",
        "tags": [f"{k}:{v}" for k, v in exp.metadata.labels.items()] + ["aftershock"],
        "configuration": {
            # empty: each `chaos run` process makes its own (a dynamic probe would get every secret copied in)
            "aftershock_run_id": {"type": "env", "key": "AFTERSHOCK_RUN_ID", "default": ""},
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
    if secrets:
        out["secrets"] = {SECRETS_SCOPE: secrets}
    return out


def export_notes(exp: Experiment) -> list[str]:
    """What the exported document carries differently from ``aftershock run`` (shown by ``export``)."""
    notes: list[str] = []
    for policy in exp.spec.policies:
        if policy.action not in GUARDED_ACTIONS:
            notes.append(f"policy {policy.name} ({policy.action}): the Chaos Toolkit guard cannot apply it; "
                         "it fails there and escalates like a failed action (use `aftershock run` for it)")
    secrets = prometheus_secrets(exp)
    if secrets:
        names = ", ".join(entry["key"] for entry in secrets.values())
        notes.append(f"Prometheus credentials are not written: Chaos Toolkit reads them from {names} "
                     f"(secrets scope {SECRETS_SCOPE}, type env) when it runs the experiment")
    if exp.spec.gate is not None:
        notes.append("the error-budget gate (spec.gate) is not checked by Chaos Toolkit runs")
    return notes
