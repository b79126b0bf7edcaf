"""The Kubernetes compiler and the Chaos Mesh CRD rules every compiled object must pass."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.compiling import naming
from chaos.compiling.crd_rules import validate_object
from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
from chaos.errors import InvalidExperiment
from chaos.loading import load_file

from .helpers import load, with_fault

REPO = Path(__file__).resolve().parents[2]
DNS_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def compiled(document: Any, run_id: str = "run1") -> list[dict[str, Any]]:
    return [c.body for c in compile_experiment(load(document).experiment, run_id, source="x.yaml")]


def test_payment_latency_reference_object() -> None:
    path = REPO / "experiments" / "payment-latency.yaml"
    (obj,) = compile_experiment(load_file(path).experiment, "abcd1234", source=str(path))
    body = obj.body
    assert body["apiVersion"] == "chaos-mesh.org/v1alpha1"
    assert body["kind"] == "NetworkChaos"
    spec = body["spec"]
    assert spec["action"] == "delay"
    assert spec["mode"] == "one"
    assert spec["selector"]["namespaces"] == ["shop"]
    assert spec["selector"]["labelSelectors"] == {"app": "order-service"}
    assert spec["delay"] == {"latency": "500ms", "jitter": "0ms", "correlation": "0"}
    assert spec["direction"] == "to"
    assert spec["target"]["selector"]["labelSelectors"] == {"app": "payment-gateway"}
    assert spec["target"]["mode"] in ("one", "all", "fixed", "fixed-percent", "random-max-percent")
    assert spec["duration"] == "2m"
    meta = body["metadata"]
    assert meta["name"] == "payment-latency-payment-delay-abcd1234"
    assert meta["namespace"] == "shop"
    assert meta["labels"] == {naming.MANAGED_BY: "aftershock", naming.EXPERIMENT_LABEL: "payment-latency",
                              naming.RUN_LABEL: "abcd1234"}
    assert meta["annotations"] == {naming.SOURCE_ANNOTATION: str(path), naming.FAULT_ANNOTATION: "payment-delay"}
    assert validate_object(body) == []


def test_latency_override_reaches_the_object() -> None:
    path = REPO / "experiments" / "payment-latency.yaml"
    exp = load_file(path, overrides={"latency": "800ms"}).experiment
    assert compile_experiment(exp, "abcd")[0].body["spec"]["delay"]["latency"] == "800ms"


@pytest.mark.parametrize("name", ["payment-latency", "pod-kill", "packet-loss", "cpu-stress", "http-abort"])
def test_shipped_kubernetes_experiments_compile_to_valid_objects(name: str) -> None:
    exp = load_file(REPO / "experiments" / f"{name}.yaml").experiment
    objects = compile_experiment(exp, "r1d2")
    assert objects and all(validate_object(o.body) == [] for o in objects)


def test_host_experiments_do_not_compile() -> None:
    exp = load_file(REPO / "experiments" / "demo-payment-latency.yaml").experiment
    with pytest.raises(InvalidExperiment) as info:
        compile_experiment(exp, "abcd")
    assert info.value.problems[0].path == "spec.target.type"


FAULTS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"type": "network-loss", "latency": None, "percent": 12.5, "correlation": 25}, "NetworkChaos",
     {"action": "loss", "loss": {"loss": "12.5", "correlation": "25"}}),
    ({"type": "network-duplicate", "latency": None, "percent": 5}, "NetworkChaos",
     {"action": "duplicate", "duplicate": {"duplicate": "5", "correlation": "0"}}),
    ({"type": "network-corrupt", "latency": None, "percent": 100}, "NetworkChaos",
     {"action": "corrupt", "corrupt": {"corrupt": "100", "correlation": "0"}}),
    ({"type": "network-partition", "latency": None, "direction": "both", "peer": {"labels": {"app": "b"}}},
     "NetworkChaos", {"action": "partition", "direction": "both"}),
    ({"type": "network-bandwidth", "latency": None, "rate": "1mbps", "limit": 100, "buffer": 50},
     "NetworkChaos", {"action": "bandwidth", "bandwidth": {"rate": "1mbps", "limit": 100, "buffer": 50}}),
    ({"type": "http-status", "latency": None, "code": 503, "port": 8080}, "HTTPChaos",
     {"target": "Response", "replace": {"code": 503}, "port": 8080}),
    ({"type": "http-abort", "latency": None}, "HTTPChaos", {"target": "Request", "abort": True}),
    ({"type": "http-delay", "latency": None, "delay": "2s", "method": "GET"}, "HTTPChaos",
     {"target": "Request", "delay": "2s", "method": "GET"}),
    ({"type": "pod-kill", "latency": None, "gracePeriod": 5}, "PodChaos", {"action": "pod-kill", "gracePeriod": 5}),
    ({"type": "pod-failure", "latency": None}, "PodChaos", {"action": "pod-failure", "duration": "1m"}),
    ({"type": "container-kill", "latency": None, "containerNames": ["app"]}, "PodChaos",
     {"action": "container-kill", "containerNames": ["app"]}),
    ({"type": "cpu-stress", "latency": None, "workers": 4, "load": 50}, "StressChaos",
     {"stressors": {"cpu": {"workers": 4, "load": 50}}}),
    ({"type": "memory-stress", "latency": None, "size": "1GB"}, "StressChaos",
     {"stressors": {"memory": {"workers": 1, "size": "1GB"}}}),
    ({"mode": "fixed-percent", "value": "20"}, "NetworkChaos", {"mode": "fixed-percent", "value": "20"}),
]


@pytest.mark.parametrize(("fields", "kind", "expected"), FAULTS, ids=[f"{f[1]}-{i}" for i, f in enumerate(FAULTS)])
def test_every_fault_type_compiles(fields: dict[str, Any], kind: str, expected: dict[str, Any]) -> None:
    (body,) = compiled(with_fault(**fields))
    assert body["kind"] == kind
    for key, value in expected.items():
        assert body["spec"][key] == value, key
    assert body["spec"]["duration"] == "1m"
    assert validate_object(body) == []


def test_raw_chaos_mesh_manifest_is_labelled_and_bounded() -> None:
    manifest = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
                "metadata": {"name": "theirs", "labels": {"team": "x"}},
                "spec": {"action": "pod-kill", "mode": "one", "selector": {"labelSelectors": {"app": "a"}}}}
    (body,) = compiled(with_fault(type="chaos-mesh", latency=None, manifest=manifest))
    assert body["metadata"]["name"] == "exp-f-run1"
    assert body["metadata"]["labels"]["team"] == "x"
    assert body["metadata"]["labels"][naming.MANAGED_BY] == "aftershock"
    assert body["spec"]["duration"] == "1m"


def test_raw_manifest_breaking_crd_rules_is_refused_with_a_path() -> None:
    manifest = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
                "spec": {"action": "delay", "mode": "sometimes", "selector": {"labelSelectors": {"app": "a"}}}}
    with pytest.raises(InvalidExperiment) as info:
        compiled(with_fault(type="chaos-mesh", latency=None, manifest=manifest))
    paths = {p.path for p in info.value.problems}
    assert "spec.faults[0] → NetworkChaos.spec.mode" in paths
    assert "spec.faults[0] → NetworkChaos.spec.delay" in paths


def test_hostile_values_cannot_change_the_document_structure() -> None:
    (body,) = compiled(with_fault(type="http-abort", latency=None, path="/x\nspec: {mode: all}\n---\nkind: Secret",
                                  requestHeaders={"x": "GET\"}, {\"x"}))
    assert body["spec"]["path"] == "/x\nspec: {mode: all}\n---\nkind: Secret"
    assert body["spec"]["request_headers"] == {"x": "GET\"}, {\"x"}
    assert body["spec"]["mode"] == "one"


def test_unicode_survives_compilation_without_surrogates() -> None:
    (body,) = compiled(with_fault(selector={"labels": {"app": "caf\u00e9-\U0001f600"}}))
    assert body["spec"]["selector"]["labelSelectors"] == {"app": "caf\u00e9-\U0001f600"}
    to_yaml_stream(compile_experiment(load(with_fault(selector={"labels": {"app": "\U0001f600"}})).experiment,
                                      "r1")).encode("utf-8")


def test_compilation_is_deterministic_for_a_run_id() -> None:
    document = with_fault()
    first = to_yaml_stream(compile_experiment(load(document).experiment, "abcd"))
    assert first == to_yaml_stream(compile_experiment(load(document).experiment, "abcd"))
    assert first != to_yaml_stream(compile_experiment(load(document).experiment, "abce"))
    assert next(iter(yaml.safe_load_all(first)))["metadata"]["name"] == "exp-f-abcd"


# ---------------------------------------------------------------- names


def test_names_are_short_dns_labels_and_deterministic() -> None:
    import re

    long = "a" * 63
    name = naming.object_name(long, "b" * 63, "abcdef123456")
    assert len(name) <= 63 and re.match(DNS_RE, name) and name.endswith("-abcdef123456")
    assert name == naming.object_name(long, "b" * 63, "abcdef123456")
    assert name != naming.object_name(long, "b" * 62 + "c", "abcdef123456")
    assert naming.object_name("exp", "f", "r1") == "exp-f-r1"
    tricky = naming.object_name("x" * 40, "-" .join(["y"] * 20), "abcd")
    assert len(tricky) <= 63 and re.match(DNS_RE, tricky)


def test_run_ids() -> None:
    assert naming.valid_run_id(naming.new_run_id())
    assert naming.new_run_id() != naming.new_run_id()
    for bad in ("ABC1", "abc", "a" * 13, "ab-cd", ""):
        assert not naming.valid_run_id(bad)


# ---------------------------------------------------------------- CRD rules on hand-written objects


def _valid_network() -> dict[str, Any]:
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
        "metadata": {"name": "n", "namespace": "shop",
                     "labels": {naming.MANAGED_BY: naming.OURS, naming.RUN_LABEL: "r1"}},
        "spec": {"action": "delay", "mode": "one", "selector": {"namespaces": ["shop"]},
                 "delay": {"latency": "10ms", "jitter": "0ms", "correlation": "0"}, "direction": "to",
                 "duration": "1m"},
    }


def _break(path: str, value: Any) -> dict[str, Any]:
    body = _valid_network()
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return body


_DELETE = object()

CRD_BROKEN: list[tuple[dict[str, Any], str]] = [
    (_break("apiVersion", "v1"), "apiVersion"),
    (_break("kind", "ChaosMonkey"), "kind"),
    (_break("metadata.name", "Bad_Name"), "metadata.name"),
    (_break("metadata.name", "a" * 64), "metadata.name"),
    (_break("metadata.labels", {}), "metadata.labels"),
    (_break("spec.action", "slow"), "spec.action"),
    (_break("spec.mode", "most"), "spec.mode"),
    (_break("spec.mode", "fixed"), "spec.value"),
    ({**_break("spec.mode", "fixed-percent"), "spec": {**_valid_network()["spec"], "mode": "fixed-percent",
                                                        "value": "101"}}, "spec.value"),
    (_break("spec.direction", "up"), "spec.direction"),
    (_break("spec.direction", "both"), "spec.target"),
    (_break("spec.duration", _DELETE), "spec.duration"),
    (_break("spec.duration", "forever"), "spec.duration"),
    (_break("spec.duration", "48h"), "spec.duration"),
    (_break("spec.delay.latency", "10"), "spec.delay.latency"),
    (_break("spec.delay.jitter", "1d"), "spec.delay.jitter"),
    (_break("spec.delay.correlation", 50), "spec.delay.correlation"),
    (_break("spec.delay.correlation", "150"), "spec.delay.correlation"),
    (_break("spec.selector", None), "spec.selector"),
]


@pytest.mark.parametrize(("body", "path"), CRD_BROKEN, ids=[c[1] + str(i) for i, c in enumerate(CRD_BROKEN)])
def test_crd_rules_refuse(body: dict[str, Any], path: str) -> None:
    assert path in {p.path for p in validate_object(body)}


def test_crd_rules_accept_the_valid_object() -> None:
    assert validate_object(_valid_network()) == []
    assert validate_object([]) != []


def _spec(kind: str, **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(_valid_network())
    body["kind"] = kind
    body["spec"] = {"mode": "one", "selector": {"namespaces": ["shop"]}, "duration": "1m", **spec}
    return body


@pytest.mark.parametrize(("body", "path"), [
    (_spec("NetworkChaos", action="loss", loss={"loss": 30}), "spec.loss.loss"),
    (_spec("NetworkChaos", action="loss", loss={"loss": "101"}), "spec.loss.loss"),
    (_spec("NetworkChaos", action="duplicate", duplicate={"duplicate": "-1"}), "spec.duplicate.duplicate"),
    (_spec("NetworkChaos", action="corrupt"), "spec.corrupt"),
    (_spec("NetworkChaos", action="bandwidth", bandwidth={"rate": "1mb", "limit": 1, "buffer": 1}),
     "spec.bandwidth.rate"),
    (_spec("NetworkChaos", action="bandwidth", bandwidth={"rate": "1mbps", "limit": 0, "buffer": 1}),
     "spec.bandwidth.limit"),
    (_spec("NetworkChaos", action="bandwidth", bandwidth={"rate": "1mbps", "limit": 1, "buffer": 0}),
     "spec.bandwidth.buffer"),
    (_spec("PodChaos", action="pod-failure", duration=None), "spec.duration"),
    (_spec("PodChaos", action="container-kill"), "spec.containerNames"),
    (_spec("PodChaos", action="pod-kill", gracePeriod=-1), "spec.gracePeriod"),
    (_spec("StressChaos", stressors={"cpu": {"workers": 1, "load": 101}}), "spec.stressors.cpu.load"),
    (_spec("StressChaos", stressors={"cpu": {"workers": 8193, "load": 1}}), "spec.stressors.cpu.workers"),
    (_spec("StressChaos", stressors={"memory": {"workers": 1, "size": "lots"}}), "spec.stressors.memory.size"),
    (_spec("StressChaos", stressors={}), "spec.stressors"),
    (_spec("HTTPChaos", target="Request", port=0, abort=True), "spec.port"),
    (_spec("HTTPChaos", target="Both", port=80, abort=True), "spec.target"),
    (_spec("HTTPChaos", target="Request", port=80), "spec"),
    (_spec("HTTPChaos", target="Response", port=80, replace={"code": 700}), "spec.replace.code"),
])
def test_crd_rules_per_kind(body: dict[str, Any], path: str) -> None:
    assert path in {p.path for p in validate_object(body)}


def test_crd_rules_take_go_durations_but_one_unit_netem_latency_like_chaos_mesh() -> None:
    assert validate_object(_break("spec.duration", "1h30m")) == []
    (body,) = compiled(with_fault(duration="1h30m", latency="1500ms"))
    assert body["spec"]["duration"] == "1h30m" and validate_object(body) == []
    assert "spec.delay.latency" in {p.path for p in validate_object(_break("spec.delay.latency", "1s500ms"))}
