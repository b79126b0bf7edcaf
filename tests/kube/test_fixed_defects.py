"""Regression examples for the defects found against Chaos Mesh's code and the real API server
(pure: no cluster). Each failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.clients.kube import rbac
from chaos.clients.kube.blast import Resolution, run_totals
from chaos.clients.kube.selectors import affected_count
from chaos.compiling.crd_rules import validate_object
from chaos.compiling.kubernetes import compile_experiment
from chaos.errors import InvalidExperiment, PreflightRefused
from chaos.model.experiment import Experiment


def experiment(**fault: Any) -> Experiment:
    base: dict[str, Any] = {"name": "f", "selector": {"labels": {"app": "web"}}, "duration": "1m"}
    base.update(fault)
    return Experiment.model_validate({
        "apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "x"},
        "spec": {"target": {"type": "kubernetes", "namespace": "shop"}, "faults": [base]}})


@pytest.mark.parametrize(("mode", "value", "pods", "expected"), [
    ("fixed-percent", "50", 3, 2), ("fixed-percent", "1", 3, 1), ("fixed-percent", "100", 3, 3),
    ("random-max-percent", "34", 3, 2), ("fixed", "5", 3, 3), ("one", "", 3, 1), ("all", "", 0, 0)])
def test_percent_modes_round_up_like_chaos_mesh(mode: str, value: str, pods: int, expected: int) -> None:
    assert affected_count(mode, value, pods) == expected


def test_limits_are_summed_over_the_run_per_namespace() -> None:
    a = Resolution("NetworkChaos shop/a", ["shop"], ["shop/p0", "shop/p1", "shop/p2"], 2)
    b = Resolution("PodChaos shop/b", ["shop"], ["shop/p2", "shop/p3"], 1)
    (total,) = run_totals([a, b], max_targets=3)
    assert (total.affected, total.matching) == (3, 4)
    assert total.describe() == "namespace shop: up to 3 of 4 matching pod(s) (75%) over the run"
    with pytest.raises(PreflightRefused, match="together may affect 3 pods in shop, more than maxTargets 2"):
        run_totals([a, b], max_targets=2)
    with pytest.raises(PreflightRefused, match="maxPercent 50"):
        run_totals([a, b], max_percent=50)


def test_circuit_break_asks_only_for_the_route_kinds_served() -> None:
    gateway_only = rbac.circuit_break_permissions("shop", ["HTTPRoute"])
    assert {p.resource for p in gateway_only} == {"httproutes"}
    assert rbac.circuit_break_permissions("shop", []) == []


@pytest.mark.parametrize(("fault", "field"), [
    ({"type": "network-delay", "latency": "1m30s"}, "latency"),
    ({"type": "network-delay", "latency": "10µs"}, "latency"),
    ({"type": "network-bandwidth", "rate": "1.5mbps"}, "rate"),
    ({"type": "memory-stress", "size": "150%"}, "size"),
])
def test_values_chaos_mesh_refuses_are_refused(fault: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        experiment(**fault)


def test_values_chaos_mesh_accepts_are_accepted() -> None:
    partition = experiment(type="network-partition", direction="both",
                           peer={"externalTargets": ["db.example.com"]})
    (obj,) = compile_experiment(partition, "ab12cd")
    assert obj.body["spec"]["externalTargets"] == ["db.example.com"] and validate_object(obj.body) == []
    reorder = experiment(type="network-delay", latency="90s", reorder={"percent": 25, "gap": 5},
                         selector={"labels": {"app": "web"}, "nodeSelectors": {"disk": "ssd"},
                                   "expressions": [{"key": "tier", "operator": "In", "values": ["a"]}]})
    (obj,) = compile_experiment(reorder, "ab12cd")
    assert obj.body["spec"]["delay"]["reorder"] == {"reorder": "25", "correlation": "0", "gap": 5}
    assert obj.body["spec"]["selector"]["nodeSelectors"] == {"disk": "ssd"}
    assert obj.body["spec"]["selector"]["expressionSelectors"] == [
        {"key": "tier", "operator": "In", "values": ["a"]}]
    for rate in ("1mbit", "10KBPS"):
        (obj,) = compile_experiment(experiment(type="network-bandwidth", rate=rate), "ab12cd")
        assert validate_object(obj.body) == []
    (obj,) = compile_experiment(experiment(type="cpu-stress", options=["--cpu-method", "fft"]), "ab12cd")
    assert obj.body["spec"]["stressors"]["cpu"]["options"] == ["--cpu-method", "fft"]


def test_http_abort_means_one_thing_and_http_status_is_the_other() -> None:
    with pytest.raises(InvalidExperiment, match="use type: http-status"):
        compile_experiment(experiment(type="http-abort", code=503), "ab12cd")
    (obj,) = compile_experiment(experiment(type="http-status", code=503, headers={"retry-after": "5"}), "ab12cd")
    assert obj.body["spec"]["target"] == "Response"
    assert obj.body["spec"]["replace"] == {"code": 503, "headers": {"retry-after": "5"}}
    (obj,) = compile_experiment(experiment(type="http-patch", target="Response", headers=[["x-chaos", "1"]],
                                           body='{"degraded": true}'), "ab12cd")
    assert obj.body["spec"]["patch"] == {"headers": [["x-chaos", "1"]],
                                         "body": {"type": "JSON", "value": '{"degraded": true}'}}


def test_an_empty_jitter_is_no_jitter_as_chaos_mesh_takes_it() -> None:
    """Found by the differential test (seed 1695794510): Chaos Mesh's defaulting webhook drops an
    empty optional jitter; we refused it."""
    exp = experiment(type="network-delay", latency="500ms", jitter="")
    (compiled,) = compile_experiment(exp, "ab12cd", source="x.yaml")
    assert compiled.body["spec"]["delay"]["jitter"] == "0ms"
    body = dict(compiled.body, spec=dict(compiled.body["spec"], delay={"latency": "500ms", "jitter": ""}))
    assert validate_object(body) == []
    no_latency = dict(body, spec=dict(body["spec"], delay={"latency": "", "jitter": ""}))
    assert validate_object(no_latency) != []
