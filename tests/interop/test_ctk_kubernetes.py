"""The extension's actions on the Kubernetes target, through the same ``KubernetesRunTarget`` as
``aftershock run``, against the emulated API server of ``tests/k8s`` (the official client over HTTP):
pre-flight, the NetworkChaos with our labels and bounded duration, the reaper Job, the write-ahead
record, and removal by ``remove_faults``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from k8s.conftest import cluster, pod, write_kubeconfig  # noqa: F401  (fixtures)
from k8s.emulator import ClusterEmulator
from k8s_run.conftest import experiment, live, shop  # noqa: F401  (fixture)

from chaos.clients.state import StateStore
from chaos.interop.ctk_actions import inject_fault, remove_faults

RUN = "ctkk8s01"


@pytest.mark.usefixtures("shop")
async def test_inject_and_remove_through_the_kubernetes_run_target(cluster: ClusterEmulator,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(cluster.url).rstrip("/"))
    doc = experiment("ctk-k8s", "unused", duration="30s")
    state = tmp_path / "state"
    out = await asyncio.to_thread(inject_fault, doc, "payment-delay", RUN, str(state),
                                  {"kubeconfig": str(kubeconfig)})
    assert out["run_id"] == RUN and out["type"] == "network-delay"

    store = StateStore(state)
    (row,) = store.faults(RUN)
    assert row.state == "injected" and row.realisation["kind"] == "kubernetes"
    body = row.realisation["object"]
    assert body["metadata"]["labels"]["aftershock.io/run-id"] == RUN
    assert body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aftershock"
    assert body["spec"]["duration"] == "30s"  # bounded server-side
    assert [(p, ns) for p, ns, _ in live(cluster, "networkchaos")] == [("networkchaos", "shop")]
    assert live(cluster, "jobs"), "no reaper Job: the fault would outlive a killed chaos run"

    result = await asyncio.to_thread(remove_faults, RUN, str(state))
    assert result["removed"] == ["payment-delay"] and result["failed"] == {}
    assert store.faults(RUN)[0].state == "removed"
    assert live(cluster, "networkchaos") == []
    assert live(cluster, "jobs") == []  # every object gone: the reaper is removed too
