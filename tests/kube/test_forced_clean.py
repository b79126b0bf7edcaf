"""Which deleted objects Aftershock asks Chaos Mesh to let go of (``cleanFinalizer: forced``) and what
it takes out of the per-pod PodNetworkChaos records: pure rules, on the shapes Chaos Mesh writes (seen
on the node testbed, tests/node/test_chaos_mesh.py)."""

from __future__ import annotations

from typing import Any

from chaos.clients.kube.chaosmesh import needs_forced_clean, network_record_pods, without_source

FAILED = {"type": "Failed", "operation": "Apply", "message": "unable to set tcs for pod order"}


def obj(kind: str, records: list[dict[str, Any]], ours: bool = True, deleted: bool = True,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "r1"} if ours else {}
    metadata: dict[str, Any] = {"name": "x", "namespace": "shop", "labels": labels, "finalizers": ["chaos-mesh/records"],
                                "annotations": annotations or {}}
    if deleted:
        metadata["deletionTimestamp"] = "2026-12-06T14:00:00Z"
    return {"kind": kind, "metadata": metadata, "status": {"experiment": {"containerRecords": records}}}


STUCK = {"id": "shop/order", "phase": "Not Injected/Wait", "injectedCount": 0, "events": [FAILED]}
TARGET = {"id": "shop/payment", "phase": "Injected", "injectedCount": 1, "selectorKey": ".Target"}


def test_a_failing_injection_of_ours_is_forced_once_deleted() -> None:
    assert needs_forced_clean(obj("NetworkChaos", [STUCK]))
    assert needs_forced_clean(obj("NetworkChaos", [STUCK, TARGET]))  # its recovery is the entries we clear
    assert needs_forced_clean(obj("PodChaos", [{"id": "shop/p", "phase": "Not Injected"}]))


def test_others_are_left_to_chaos_mesh() -> None:
    assert not needs_forced_clean(obj("NetworkChaos", [STUCK], ours=False))
    assert not needs_forced_clean(obj("NetworkChaos", [STUCK], deleted=False))
    assert not needs_forced_clean(obj("NetworkChaos", [STUCK], annotations={
        "chaos-mesh.chaos-mesh.org/cleanFinalizer": "forced"}))
    assert not needs_forced_clean(obj("NetworkChaos", [TARGET]))  # injected: Chaos Mesh recovers it
    assert not needs_forced_clean(obj("PodChaos", [STUCK, TARGET]))  # only Chaos Mesh can recover a pod fault
    assert not needs_forced_clean(obj("NetworkChaos", []))  # no records: nothing to judge


def test_only_our_entries_leave_the_pod_record() -> None:
    pnc = {"spec": {"tcs": [{"source": "shop/x", "type": "netem"}, {"source": "shop/other", "type": "bandwidth"}],
                    "ipsets": [{"source": "shop/x", "name": "a"}]}}
    assert without_source(pnc, "shop/x") == {"tcs": [{"source": "shop/other", "type": "bandwidth"}],
                                             "ipsets": [], "iptables": []}
    assert without_source(pnc, "shop/none") is None
    assert network_record_pods(obj("NetworkChaos", [STUCK, TARGET])) == ["shop/order", "shop/payment"]
    assert network_record_pods(obj("PodChaos", [STUCK])) == []
