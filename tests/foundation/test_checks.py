"""Cross-field checks: references to SLOs and faults, duplicate names, the static blast radius."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.model.checks import SYSTEM_NAMESPACES

from .helpers import doc, load, one_problem, problems, with_fault

SLOS = [{"name": "latency-p95", "query": "up", "objective": {"op": "<", "value": 1}},
        {"name": "errors", "query": "up", "objective": {"op": "<", "value": 1}}]


def test_unknown_slo_in_steady_state() -> None:
    problem = one_problem(doc(slos=SLOS, steadyState=["errors", "latency-p59"]))
    assert (problem.path, problem.message) == ("spec.steadyState[1]", "unknown SLO 'latency-p59'")
    assert problem.hint == "did you mean 'latency-p95'?"
    assert problem.line is not None


def test_unknown_slo_in_policy_lists_known_ones() -> None:
    policy = {"name": "p", "when": {"slo": "zzz"}, "action": "rollback"}
    problem = one_problem(doc(slos=SLOS, policies=[policy]))
    assert (problem.path, problem.message) == ("spec.policies[0].when.slo", "unknown SLO 'zzz'")
    assert problem.hint == "known SLOs: latency-p95, errors"


def test_monitor_is_a_valid_policy_trigger() -> None:
    load(doc(policies=[{"name": "p", "when": {"slo": "monitor"}, "action": "abort"}]))


def test_steady_state_without_slos() -> None:
    found = problems(doc(steadyState=["x"]))
    assert {p.path for p in found} == {"spec.steadyState[0]", "spec.steadyState"}


def test_unknown_fault_in_shrink_and_rollback() -> None:
    policies = [{"name": "a", "when": {"slo": "errors"}, "action": "shrink", "with": {"fault": "g", "percent": 1}},
                {"name": "b", "when": {"slo": "errors"}, "action": "rollback", "with": {"faults": ["f", "h"]}}]
    found = problems(doc(slos=SLOS, policies=policies))
    assert {(p.path, p.message) for p in found} == {("spec.policies[0].with.fault", "unknown fault 'g'"),
                                                   ("spec.policies[1].with.faults[1]", "unknown fault 'h'")}


def test_shrink_asks_only_what_the_fault_kind_can_change() -> None:
    # the base document's fault f is a network-delay: latency and jitter shrink, percent does not
    load(doc(slos=SLOS, policies=[{"name": "a", "when": {"slo": "errors"}, "action": "shrink",
                                   "with": {"fault": "f", "latency": "10ms", "jitter": "1ms"}}]))
    problem = one_problem(doc(slos=SLOS, policies=[{"name": "a", "when": {"slo": "errors"}, "action": "shrink",
                                                    "with": {"fault": "f", "percent": 10}}]))
    assert (problem.path, problem.message) == ("spec.policies[0].with",
                                               "a network-delay fault cannot be shrunk by percent")
    assert problem.hint == "network-delay can be shrunk by: latency, jitter, mode, value"


def test_keep_and_escalate_cannot_be_combined() -> None:
    policy = {"name": "p", "when": {"slo": "errors"}, "action": "circuit-break", "keep": True,
              "escalate": {"after": "10s"}, "with": {"service": "gw"}}
    assert one_problem(doc(slos=SLOS, policies=[policy])).path == "spec.policies[0]"


@pytest.mark.parametrize("section", ["faults", "slos", "policies"])
def test_duplicate_names(section: str) -> None:
    fault = {"name": "f", "type": "pod-kill", "selector": {"labels": {"app": "a"}}, "duration": "1m"}
    policy = {"name": "p", "when": {"slo": "errors"}, "action": "abort"}
    items = {"faults": [fault, fault], "slos": [SLOS[0], SLOS[0]], "policies": [policy, policy]}
    spec: dict[str, Any] = {"slos": SLOS, section: items[section]}
    problem = one_problem(doc(**spec))
    assert problem.path == f"spec.{section}[1].name"
    assert "duplicate name" in problem.message and "also at index 0" in problem.message


def test_gate_slo_must_exist() -> None:
    assert one_problem(doc(slos=SLOS, gate={"slo": "budget", "minBudget": 10, "maxBurnRate": 2})).path == "spec.gate.slo"


# ---------------------------------------------------------------- blast radius


def test_namespace_outside_blast_radius() -> None:
    problem = one_problem(with_fault(selector={"namespaces": ["payments"], "labels": {"app": "a"}}))
    assert problem.path == "spec.faults[0].selector.namespaces"
    assert "'payments' outside the blast radius ['shop']" in problem.message


def test_peer_namespace_outside_blast_radius() -> None:
    problem = one_problem(with_fault(peer={"namespaces": ["other"], "labels": {"app": "b"}}))
    assert "'other' outside the blast radius" in problem.message


def test_pods_namespace_outside_blast_radius() -> None:
    problem = one_problem(with_fault(selector={"pods": {"billing": ["p-1"]}}))
    assert "'billing' outside the blast radius" in problem.message


def test_blast_radius_defaults_to_the_target_namespace() -> None:
    document = with_fault(selector={"namespaces": ["other"], "labels": {"app": "a"}})
    del document["spec"]["blastRadius"]
    assert "outside the blast radius ['shop']" in one_problem(document).message


@pytest.mark.parametrize("namespace", sorted(SYSTEM_NAMESPACES))
def test_system_namespace_listed_is_not_enough(namespace: str) -> None:
    document = with_fault(selector={"namespaces": [namespace], "labels": {"app": "a"}})
    document["spec"]["blastRadius"] = {"namespaces": ["shop", namespace]}
    problem = one_problem(document)
    assert problem.message == f"selector reaches system namespace {namespace!r}"
    assert "allowSystemNamespaces: true" in problem.hint


def test_system_namespace_through_the_target_namespace() -> None:
    document = with_fault()
    document["spec"]["target"]["namespace"] = "kube-system"
    document["spec"]["blastRadius"] = {"namespaces": ["kube-system"]}
    assert "system namespace 'kube-system'" in one_problem(document).message


def test_system_namespace_through_a_raw_manifest() -> None:
    manifest = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
                "spec": {"action": "pod-kill", "mode": "one", "selector": {"namespaces": ["kube-system"],
                                                                            "labelSelectors": {"app": "a"}}}}
    document = with_fault(type="chaos-mesh", latency=None, manifest=manifest)
    assert "system namespace 'kube-system'" in one_problem(document).message


def test_a_raw_manifests_selectors_are_counted_like_ours() -> None:
    def raw(spec: dict[str, Any]) -> dict[str, Any]:
        return with_fault(type="chaos-mesh", latency=None, manifest={
            "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "spec": {"action": "pod-kill", **spec}})

    # selector.labels is not Chaos Mesh's: the API server would prune it and select every pod
    problem = one_problem(raw({"mode": "one", "selector": {"labelSelectors": {"app": "a"}, "labels": {"x": "y"}}}))
    assert "'labels' is not a Chaos Mesh selector field" in problem.message and "labelSelectors" in problem.hint
    assert "selects every pod" in one_problem(raw({"mode": "one", "selector": {"namespaces": ["shop"]}})).message
    problem = one_problem(raw({"mode": "all", "selector": {"labelSelectors": {"app": "a"}}}))
    assert "mode 'all' needs" in problem.message
    problem = one_problem(raw({"mode": "one", "selector": {"labelSelectors": {"app": "a"}},
                               "target": {"mode": "one", "selector": {"namespaces": ["other"]}}}))
    assert "namespace 'other' outside the blast radius" in problem.message


def test_system_namespace_allowed_when_listed_and_allowed() -> None:
    document = with_fault(selector={"namespaces": ["kube-system"], "labels": {"app": "a"}})
    document["spec"]["blastRadius"] = {"namespaces": ["kube-system"], "allowSystemNamespaces": True}
    load(document)


def test_allowing_system_namespaces_does_not_widen_the_list() -> None:
    document = with_fault(selector={"namespaces": ["kube-system"], "labels": {"app": "a"}})
    document["spec"]["blastRadius"] = {"namespaces": ["shop"], "allowSystemNamespaces": True}
    assert "outside the blast radius" in one_problem(document).message


def test_mode_all_needs_a_bound() -> None:
    problem = one_problem(with_fault(mode="all"))
    assert (problem.path, problem.message) == ("spec.faults[0].mode",
                                               "mode 'all' needs spec.blastRadius.maxTargets or maxPercent")


@pytest.mark.parametrize("bound", [{"maxTargets": 3}, {"maxPercent": 20}])
def test_mode_all_with_a_bound(bound: dict[str, Any]) -> None:
    document = with_fault(mode="all")
    document["spec"]["blastRadius"].update(bound)
    load(document)


def test_fixed_value_above_max_targets() -> None:
    document = with_fault(mode="fixed", value="3")
    document["spec"]["blastRadius"]["maxTargets"] = 2
    assert one_problem(document).path == "spec.faults[0].value"


def test_percent_value_above_max_percent() -> None:
    document = with_fault(mode="fixed-percent", value="30")
    document["spec"]["blastRadius"]["maxPercent"] = 25
    assert "30% exceeds blastRadius.maxPercent 25" in one_problem(document).message


def test_selector_must_narrow_the_namespace() -> None:
    problem = one_problem(with_fault(selector={}))
    assert problem.path == "spec.faults[0].selector" and "every pod of the namespace" in problem.message


def test_http_percent_below_100_only_on_host() -> None:
    document = with_fault(type="http-abort", latency=None, percent=50)
    assert one_problem(document).path == "spec.faults[0].percent"


def test_host_selectors_are_refused_on_kubernetes() -> None:
    assert one_problem(with_fault(selector={"port": 8080})).path == "spec.faults[0].selector"


def test_host_refuses_pod_faults_and_needs_a_host_selector() -> None:
    document = doc(target={"type": "host"}, faults=[
        {"name": "a", "type": "pod-kill", "selector": {"port": 80}, "duration": "1m"},
        {"name": "b", "type": "network-delay", "latency": "1ms", "duration": "1m"},
        {"name": "c", "type": "http-abort", "selector": {"port": 80}, "duration": "1m"},
    ])
    assert {p.path for p in problems(document)} == {
        "spec.faults[0].type", "spec.faults[1].selector", "spec.faults[2].selector.proxy"}


def test_host_proxy_must_listen_on_loopback() -> None:
    document = doc(target={"type": "host"}, faults=[{
        "name": "a", "type": "network-delay", "latency": "1ms", "duration": "1m",
        "selector": {"proxy": {"listen": "0.0.0.0:80", "upstream": "127.0.0.1:81"}}}])
    assert "only listens on loopback" in one_problem(document).message
