"""Hypothesis properties: valid experiments of every fault type compile deterministically to objects
that pass the CRD rules, and no input (valid, mutated or garbage) produces anything but
:class:`InvalidExperiment`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos import registry
from chaos.compiling.crd_rules import validate_object
from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
from chaos.errors import InvalidExperiment
from chaos.loading import load_bytes, load_text
from chaos.model import FAULT_TYPES

KUBE_FAULT_TYPES = [name for name in FAULT_TYPES if (kind := registry.faults.get(name)) is not None
                    and kind.kube is not None]
"""The kinds that compile to Chaos Mesh objects (the chaostoolkit kind runs its own action instead)."""

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z")
label_values = st.from_regex(r"\A[a-z0-9]{1,10}\Z")
units = st.sampled_from(["ns", "us", "ms", "s", "m", "h"])
durations = st.builds(lambda n, u: f"{n}{u}", st.integers(0, 999), units)
fault_durations = st.sampled_from(["1s", "30s", "2m", "1h", "24h", "1h30m", "500ms"])
percents = st.one_of(st.integers(0, 100), st.floats(0, 100, allow_nan=False).map(lambda f: round(f, 2)))


def _mode() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"mode": "one"}), st.just({"mode": "all"}),
        st.integers(1, 3).map(lambda n: {"mode": "fixed", "value": str(n)}),
        st.integers(1, 50).map(lambda n: {"mode": "fixed-percent", "value": str(n)}),
        st.integers(1, 50).map(lambda n: {"mode": "random-max-percent", "value": n}),
    )


def _network(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    extra: dict[str, Any] = {
        "network-delay": {"latency": durations, "jitter": durations, "correlation": percents},
        "network-loss": {"percent": percents, "correlation": percents},
        "network-duplicate": {"percent": percents},
        "network-corrupt": {"percent": percents},
        "network-partition": {},
        "network-bandwidth": {"rate": st.builds(lambda n, u: f"{n}{u}", st.integers(1, 999),
                                                st.sampled_from(["bps", "kbps", "mbps", "gbps"])),
                              "limit": st.integers(1, 10**9), "buffer": st.integers(1, 10**6)},
    }[kind]
    peer = st.one_of(st.none(), st.builds(lambda v: {"labels": {"app": v}}, label_values))
    return st.builds(lambda fixed, peer, direction: _with_peer(fixed, peer, direction),
                     st.fixed_dictionaries(extra), peer, st.sampled_from(["to", "from", "both"]))


def _with_peer(fields: dict[str, Any], peer: Any, direction: str) -> dict[str, Any]:
    out = dict(fields)
    if peer is not None:
        out["peer"] = peer
        out["direction"] = direction
    return out


def _fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind.startswith("network-"):
        return _network(kind)
    return {
        "http-abort": st.fixed_dictionaries({}, optional={"port": st.integers(1, 65535), "method": st.just("GET"),
                                                          "path": st.just("/api/*")}),
        "http-status": st.fixed_dictionaries({"code": st.integers(100, 599)},
                                             optional={"port": st.integers(1, 65535), "method": st.just("GET")}),
        "http-patch": st.fixed_dictionaries({"headers": st.lists(st.tuples(names, label_values).map(list),
                                                                 min_size=1, max_size=2)}),
        "http-delay": st.fixed_dictionaries({"delay": durations}),
        "pod-kill": st.fixed_dictionaries({}, optional={"gracePeriod": st.integers(0, 300)}),
        "pod-failure": st.just({}),
        "container-kill": st.fixed_dictionaries({"containerNames": st.lists(names, min_size=1, max_size=3)}),
        "cpu-stress": st.fixed_dictionaries({"workers": st.integers(1, 8192), "load": st.integers(0, 100)}),
        "memory-stress": st.fixed_dictionaries({"workers": st.integers(1, 8192),
                                                "size": st.sampled_from(["256MB", "1GiB", "50%", "1024"])}),
        "chaos-mesh": st.just({"manifest": {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
                                            "spec": {"action": "pod-kill", "mode": "one",
                                                     "selector": {"labelSelectors": {"app": "x"}}}}}),
    }[kind]


@st.composite
def faults(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(KUBE_FAULT_TYPES))
    fault: dict[str, Any] = {"name": name, "type": kind, "duration": draw(fault_durations),
                             "selector": {"labels": {"app": draw(label_values)}}}
    fault.update(draw(_mode()))
    fault.update({k: v for k, v in draw(_fields(kind)).items() if v is not None})
    return fault


@st.composite
def experiments(draw: st.DrawFn) -> dict[str, Any]:
    fault_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    slo_names = draw(st.lists(names, max_size=3, unique=True))
    slos = [{"name": n, "query": "up", "objective": {"op": draw(st.sampled_from(["<", ">=", "=="])),
                                                     "value": draw(st.floats(0, 10, allow_nan=False))}}
            for n in slo_names]
    policies = [{"name": f"p{i}", "when": {"slo": n}, "action": draw(st.sampled_from(["rollback", "abort"]))}
                for i, n in enumerate(slo_names)]
    return {
        "apiVersion": "aftershock/v1alpha1", "kind": "Experiment",
        "metadata": {"name": draw(names)},
        "spec": {
            "target": {"type": "kubernetes", "namespace": "shop"},
            "blastRadius": {"namespaces": ["shop"], "maxTargets": 3, "maxPercent": 50},
            "faults": [draw(faults(n)) for n in fault_names],
            "slos": slos, "steadyState": slo_names[:1], "policies": policies,
        },
    }


@SETTINGS
@given(experiments(), st.from_regex(r"\A[a-z0-9]{4,12}\Z"))
def test_valid_experiments_compile_deterministically_to_valid_objects(document: dict[str, Any],
                                                                     run_id: str) -> None:
    text = yaml.safe_dump(document, sort_keys=False)
    exp = load_text(text, "gen.yaml").experiment
    first = compile_experiment(exp, run_id, source="gen.yaml")
    assert len(first) == len(document["spec"]["faults"])
    for obj in first:
        assert validate_object(obj.body) == []
        assert len(obj.name) <= 63
        assert obj.body["metadata"]["labels"]["aftershock.io/run-id"] == run_id
    again = compile_experiment(load_text(text, "gen.yaml").experiment, run_id, source="gen.yaml")
    assert to_yaml_stream(first) == to_yaml_stream(again)
    assert list(yaml.safe_load_all(to_yaml_stream(first))) == [o.body for o in first]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


junk = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=20),
                 st.sampled_from(["{{ x }}", "{{ ''.__class__ }}", "forever", "-1", "1e309", "kube-system",
                                  "all", "fixed", "∞", "\U0001f600"]),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


@SETTINGS
@given(experiments(), st.data())
def test_mutations_only_ever_raise_invalid_experiment(document: dict[str, Any], data: st.DataObject) -> None:
    mutated = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(mutated)[1:]))
        parent: Any = mutated
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(junk)
    try:
        text = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        loaded = load_text(text, "mut.yaml", environ={})
        objects = compile_experiment(loaded.experiment, "abcd")
    except InvalidExperiment as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    assert all(validate_object(o.body) == [] for o in objects)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_invalid_experiment(data: bytes) -> None:
    try:
        load_bytes(data, "junk.yaml")
    except InvalidExperiment as exc:
        assert exc.problems


def test_a_key_written_as_a_bracket_is_a_problem_not_a_traceback() -> None:
    """Found by the mutation test above: ``apiVersion`` renamed to ``[`` crashed placing the problem."""
    text = "'[': aftershock/v1alpha1\nkind: Experiment\nmetadata: {name: a}\nspec: {}\n"
    with pytest.raises(InvalidExperiment) as info:
        load_text(text, "mut.yaml", environ={})
    assert any(p.path == "[" for p in info.value.problems), [p.render() for p in info.value.problems]
