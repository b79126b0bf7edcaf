"""The realisation codec: what a target writes is what ``recover`` reads back, for every fault kind.

Each fault kind the product registers is planned on each target it runs on (host through the fault
proxy and, where it has one, a kernel rule; Kubernetes as its Chaos Mesh object); its write-ahead and
injected realisations go through :func:`realisation_to_record`, JSON (as the state store keeps them)
and :func:`realisation_from_record` and come back equal. A record the reader would refuse is never
written.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from harness.experiments import host_experiment

from chaos import registry
from chaos.clients.state import RECORD_VERSION
from chaos.compiling.host import plan_host
from chaos.compiling.kubernetes import compile_experiment
from chaos.errors import StateError
from chaos.loading import load_text
from chaos.targets.realisations import (
    CustomRealisation,
    KernelRealisation,
    KubeRealisation,
    ProxyRealisation,
    TypedRealisation,
    planned_host_realisation,
    realisation_from_record,
    realisation_to_record,
)

SAMPLES: dict[str, dict[str, Any]] = {
    "chaos-mesh": {"manifest": {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
                                "spec": {"action": "pod-kill", "mode": "one",
                                         "selector": {"labelSelectors": {"app": "x"}}}}},
    "chaostoolkit": {"action": {"type": "action", "name": "raise-flag",
                                "provider": {"type": "process", "path": "touch", "arguments": "/tmp/f"}},
                     "rollback": {"type": "action", "name": "lower-flag",
                                  "provider": {"type": "process", "path": "rm", "arguments": ["-f", "/tmp/f"]}}},
    "container-kill": {"containerNames": ["app"]},
    "cpu-stress": {"workers": 1, "load": 50},
    "http-abort": {},
    "http-delay": {"delay": "100ms"},
    "http-patch": {"headers": [["x-chaos", "yes"]]},
    "http-status": {"code": 503},
    "memory-stress": {"workers": 1, "size": "256MB"},
    "network-bandwidth": {"rate": "1mbps", "limit": 100, "buffer": 10000},
    "network-corrupt": {"percent": 10},
    "network-delay": {"latency": "100ms", "jitter": "10ms"},
    "network-duplicate": {"percent": 10},
    "network-loss": {"percent": 10},
    "network-partition": {},
    "pod-failure": {},
    "pod-kill": {},
}
"""The fields of one fault of each of the product's kinds (besides name, type, duration, selector)."""

PROXY = {"proxy": {"listen": "127.0.0.1:18080", "upstream": "127.0.0.1:9", "admin": "http://127.0.0.1:18081",
                   "tokenEnv": "CODEC_TOKEN", "http": True}}
OWNED_PROXY = {"proxy": {"listen": "127.0.0.1:18090", "upstream": "127.0.0.1:9", "http": True}}
KERNEL = {"network-bandwidth": {"interface": "lo"}, "network-loss": {"port": 15432},
          "network-partition": {"port": 15432, "netns": "codec"}}


def _product_kinds() -> list[str]:
    return [n for n in registry.faults.names() if (o := registry.faults.origin(n)) is None
            or o.distribution == registry.DISTRIBUTION]


def _fault(kind: str, selector: dict[str, Any]) -> dict[str, Any]:
    return {"name": "f", "type": kind, "duration": "30s", "selector": selector, **SAMPLES[kind]}


def _host_realisations(kind: str) -> list[TypedRealisation]:
    selectors = [{}] if kind == "chaostoolkit" else [PROXY, OWNED_PROXY, *([KERNEL[kind]] if kind in KERNEL else [])]
    out: list[TypedRealisation] = []
    for selector in selectors:
        text = host_experiment("codec", [_fault(kind, selector)])
        (plan,) = plan_host(load_text(text, "codec.yaml", environ={}).experiment, "run1", {"f": 1e9})
        planned = planned_host_realisation(plan)
        out.append(planned)
        match planned:  # what inject adds to the write-ahead record
            case ProxyRealisation():
                out.append(dataclasses.replace(planned, proxy={**planned.proxy, "admin": "http://127.0.0.1:1",
                                                               "pid": 4242, "token_file": "/s/proxy-0a0b0c0d.token"}))
            case KernelRealisation(kind="iptables"):
                out.append(dataclasses.replace(planned, rule={"chain": "OUTPUT", "spec": ["-p", "tcp"],
                                                              "comment": planned.comment}))
            case CustomRealisation():
                out.append(dataclasses.replace(planned, params={**planned.params, "pid": 4242}))
    return out


def _kube_realisations(kind: str) -> list[TypedRealisation]:
    document = {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "codec"},
                "spec": {"target": {"type": "kubernetes", "namespace": "shop"},
                         "blastRadius": {"namespaces": ["shop"], "maxTargets": 3, "maxPercent": 50},
                         "faults": [{**_fault(kind, {"labels": {"app": "x"}}), "mode": "one"}]}}
    (obj,) = compile_experiment(load_text(json.dumps(document), "codec.yaml", environ={}).experiment, "run1")
    planned = KubeRealisation(object=obj.body, description=f"{obj.kind} {obj.namespace}/{obj.name}",
                              kube={"kubeconfig": None, "context": "kind", "namespace": "shop"})
    return [planned, dataclasses.replace(planned, reaper="aftershock-reaper-run1",
                                         status={"conditions": [{"type": "AllInjected", "status": "True"}]})]


def test_every_kind_of_the_product_has_a_sample() -> None:
    assert set(_product_kinds()) == set(SAMPLES), "add a sample fault of the new kind to SAMPLES"


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_record_a_target_writes_reads_back_as_written(kind: str) -> None:
    fault_kind = registry.faults.get(kind)
    assert fault_kind is not None
    realisations = ((_host_realisations(kind) if fault_kind.host is not None else [])
                    + (_kube_realisations(kind) if fault_kind.kube is not None else []))
    assert realisations
    for typed in realisations:
        record = realisation_to_record(typed)
        assert record["v"] == RECORD_VERSION
        stored = json.loads(json.dumps(record))  # as the state store keeps it
        assert realisation_from_record(stored) == typed
        assert realisation_to_record(realisation_from_record(stored)) == record


def test_a_record_the_reader_refuses_is_never_written() -> None:
    bad = KernelRealisation(kind="tc", comment="no-aftershock-comment", kernel={"interface": "lo"})
    with pytest.raises(StateError, match="no aftershock comment"):
        realisation_to_record(bad)
    hostile = KernelRealisation(kind="tc", comment="aftershock:r:f", kernel={"netns": "../../proc/1/ns/net"})
    with pytest.raises(StateError, match="invalid network namespace"):
        realisation_to_record(hostile)
