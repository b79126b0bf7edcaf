"""Pure values of the experiment format (no I/O): experiment, faults, SLOs, policies.

Imported by every layer; imports nothing of Aftershock's but other model modules and the kinds
registry. The model modules do without ``from __future__ import annotations``: their annotations are
evaluated as each class is created, so pydantic does not evaluate them again from strings (~5 ms of
every command that loads a file).

The names below are imported on first use. No model module imports a kind: the ``Fault``, ``Policy``
and ``Probe`` unions are made from the registered kinds when pydantic first builds a validator, and
the loader validates with :func:`chaos.model.experiment.experiment_model`, narrowed to the kinds a file
names (only their modules imported); the kind modules import the model modules, not the reverse.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.model.experiment import (
        ACTIONS,
        FAULT_TYPES,
        BlastRadius,
        Experiment,
        Fault,
        Metadata,
        Policy,
        Schedule,
        Spec,
        Target,
    )
    from chaos.model.faults import FaultBase, Selector
    from chaos.model.slos import MonitorSpec, Objective, Slo

_WHERE = {
    **dict.fromkeys(("ACTIONS", "FAULT_TYPES", "BlastRadius", "Experiment", "Fault", "Metadata", "Policy",
                     "Schedule", "Spec", "Target"), "chaos.model.experiment"),
    **dict.fromkeys(("FaultBase", "Selector"), "chaos.model.faults"),
    **dict.fromkeys(("MonitorSpec", "Objective", "Slo"), "chaos.model.slos"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chaos.model' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "ACTIONS", "FAULT_TYPES", "BlastRadius", "Experiment", "Fault", "FaultBase", "Metadata",
    "MonitorSpec", "Objective", "Policy", "Schedule", "Selector", "Slo", "Spec", "Target",
]
