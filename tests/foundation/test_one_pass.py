"""Every problem of a file in one pass: the schema's and the unknown SLO/fault references together;
and an SLO is a query or a probe, each refusal at its field."""

from __future__ import annotations

import pytest

from chaos.errors import InvalidExperiment
from chaos.loading import load_text

DOC = """apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: two-problems}
spec:
  target: {type: host}
  faults:
    - name: d
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:18099", upstream: "127.0.0.1:9"}}
      latency: 5 seconds
      duration: 10s
  slos:
    - {name: p95, query: up, objective: {op: "<", value: 1}}
    - {name: probe, probe: {http: {url: "http://127.0.0.1:9/health"}}}
  steadyState: [p59]
  policies:
    - {name: rb, when: {slo: p59}, action: rollback, with: {faults: [e]}}
"""


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidExperiment) as err:
        load_text(text, source="x.yaml")
    return [(p.path, p.message) for p in err.value.problems]


def test_schema_and_reference_problems_together() -> None:
    found = problems(DOC)
    assert [path for path, _ in found] == ["spec.faults[0].latency", "spec.steadyState[0]",
                                          "spec.policies[0].when.slo", "spec.policies[0].with.faults[0]"]
    assert found[1][1] == "unknown SLO 'p59'" and found[3][1] == "unknown fault 'e'"


def test_an_slo_is_a_query_or_a_probe() -> None:
    both = DOC.replace('probe: {http: {url: "http://127.0.0.1:9/health"}}',
                       'query: up, probe: {http: {url: "http://127.0.0.1:9/health"}}')
    assert ("spec.slos[1]", "an SLO has either a query (PromQL) or a probe, not both") in problems(both)
    neither = DOC.replace('probe: {http: {url: "http://127.0.0.1:9/health"}}', "objective: {op: '<', value: 1}")
    assert any(path == "spec.slos[1].query" and "a query (PromQL) or a probe" in msg for path, msg in problems(neither))
    typo = DOC.replace("probe: {http:", "probe: {htp:")
    assert any(path == "spec.slos[1].probe.htp" and "did you mean" in msg for path, msg in problems(typo)) or \
        any(path == "spec.slos[1].probe.htp" for path, _ in problems(typo))
    assert not any(path == "spec.slos[1].query" for path, _ in problems(typo))  # the probe is the problem
