"""Builders of valid experiment documents and small helpers shared by the foundation tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from chaos.errors import InvalidExperiment, Problem
from chaos.loading import Loaded, load_text

BASE: dict[str, Any] = {
    "apiVersion": "aftershock/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "exp"},
    "spec": {
        "target": {"type": "kubernetes", "namespace": "shop"},
        "blastRadius": {"namespaces": ["shop"]},
        "faults": [{
            "name": "f", "type": "network-delay", "selector": {"labels": {"app": "a"}},
            "latency": "100ms", "duration": "1m",
        }],
    },
}


def doc(**spec_changes: Any) -> dict[str, Any]:
    """A valid document with ``spec`` keys replaced."""
    out = copy.deepcopy(BASE)
    out["spec"].update(copy.deepcopy(spec_changes))
    return out


def with_fault(**fields: Any) -> dict[str, Any]:
    """A valid document whose only fault has ``fields`` changed (``None`` removes a field)."""
    out = copy.deepcopy(BASE)
    fault = out["spec"]["faults"][0]
    for key, value in fields.items():
        if value is None:
            fault.pop(key, None)
        else:
            fault[key] = value
    return out


def dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def load(document: Any, **kwargs: Any) -> Loaded:
    return load_text(dump(document) if not isinstance(document, str) else document, "x.yaml", **kwargs)


def problems(document: Any, **kwargs: Any) -> list[Problem]:
    """The problems ``document`` is refused with (fails the test when it is accepted)."""
    try:
        load(document, **kwargs)
    except InvalidExperiment as exc:
        assert exc.problems, "InvalidExperiment without problems"
        return exc.problems
    raise AssertionError("document was accepted")


def one_problem(document: Any, **kwargs: Any) -> Problem:
    found = problems(document, **kwargs)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]
