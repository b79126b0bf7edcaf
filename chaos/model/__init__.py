"""Pure values of the experiment format (no I/O): experiment, faults, SLOs, policies.

Imported by every layer; imports nothing of Aftershock's but other model modules. The model modules
do without ``from __future__ import annotations``: their annotations are evaluated as each class is
created, so pydantic does not evaluate them again from strings (~5 ms of every command that loads a file).
"""

from chaos.model.experiment import (
    FAULT_TYPES,
    BlastRadius,
    Experiment,
    Fault,
    Metadata,
    Schedule,
    Spec,
    Target,
)
from chaos.model.faults import FaultBase, Selector
from chaos.model.policies import ACTIONS, Policy
from chaos.model.slos import MonitorSpec, Objective, Slo

__all__ = [
    "ACTIONS", "FAULT_TYPES", "BlastRadius", "Experiment", "Fault", "FaultBase", "Metadata",
    "MonitorSpec", "Objective", "Policy", "Schedule", "Selector", "Slo", "Spec", "Target",
]
