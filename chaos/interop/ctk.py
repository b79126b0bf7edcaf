"""Chaos Toolkit formats: an Aftershock experiment as a CTK experiment document.

Used by the journal (CTK journals embed the experiment) and ``aftershock export``-style
interop. Pure.
"""

from __future__ import annotations

from typing import Any

from chaos.model.experiment import Experiment


def slo_probe(exp: Experiment, name: str) -> dict[str, Any]:
    slo = exp.spec.slo(name)
    return {
        "type": "probe",
        "name": slo.name,
        "tolerance": True,  # slo_holds returns whether "query <op> value" holds now
        "provider": {
            "type": "python",
            "module": "chaos.interop.ctk_extension",
            "func": "slo_holds",
            "arguments": {"prometheus": exp.spec.monitor.prometheus, "query": slo.query,
                          "op": slo.objective.op, "value": slo.objective.value},
        },
    }


def to_ctk_experiment(exp: Experiment) -> dict[str, Any]:
    """The experiment in Chaos Toolkit's experiment format (steady-state hypothesis, method, rollbacks)."""
    method = [{"type": "action", "name": f"inject-{f.name}",
               "provider": {"type": "python", "module": "chaos.interop.ctk_extension", "func": "inject",
                            "arguments": {"fault": f.model_dump(mode="json", by_alias=True)}}}
              for f in exp.spec.faults]
    rollbacks = [{"type": "action", "name": f"remove-{f.name}",
                  "provider": {"type": "python", "module": "chaos.interop.ctk_extension", "func": "remove",
                               "arguments": {"fault": f.name}}} for f in exp.spec.faults]
    return {
        "version": "1.0.0",
        "title": exp.metadata.description or exp.name,
        "description": exp.metadata.description or f"Aftershock experiment {exp.name}",
        "tags": [f"{k}:{v}" for k, v in exp.metadata.labels.items()] + ["aftershock"],
        "steady-state-hypothesis": {
            "title": f"{exp.name} steady state",
            "probes": [slo_probe(exp, n) for n in exp.spec.steady_state],
        },
        "method": method,
        "rollbacks": rollbacks,
        "extensions": [{"name": "aftershock", "experiment": exp.model_dump(mode="json", by_alias=True)}],
    }
