"""Chaos Mesh objects through the real kubernetes client against the emulated API server."""

from __future__ import annotations

from collections.abc import Callable

import kmock
import pytest

from chaos.clients.kube import KubernetesTarget
from chaos.errors import ActuatorError, CapabilityMissing, TargetError
from k8s.conftest import chaos
from k8s.emulator import CHAOS_GROUP, ClusterEmulator

NC = "chaos-mesh.org/v1alpha1/networkchaos"
NAME = "payment-latency-payment-delay-ab12cd"


async def test_happy_path_create_wait_delete(cluster: ClusterEmulator, target: KubernetesTarget,
                                             shop: Callable[[int], None]) -> None:
    shop(3)
    plurals = await target.check_chaos_mesh(["NetworkChaos", "PodChaos"])
    assert plurals["NetworkChaos"] == "networkchaos"
    obj = chaos()
    created = await target.create(obj)
    assert created["metadata"]["uid"]
    assert cluster.get("NetworkChaos", "shop", NAME) is not None

    report = await target.wait_injected(obj, timeout=5)
    assert report["injected"] is True
    assert report["conditions"]["AllInjected"] == "True"
    assert [r["phase"] for r in report["records"]] == ["Injected"] * 3
    # The status really progressed: the first read saw Not Injected, the second Injected.
    statuses = [v["status"] for v in cluster.objects[NC, "shop", NAME].history if v and "status" in v]
    assert [s["experiment"]["containerRecords"][0]["phase"] for s in statuses] == ["Not Injected", "Injected"]

    deleted = await target.delete(obj)
    assert deleted.gone
    assert cluster.get("NetworkChaos", "shop", NAME) is None


async def test_missing_crds_is_capability_missing(cluster: ClusterEmulator,
                                                  target: KubernetesTarget) -> None:
    for res in [r for r in cluster.resources if r.group == CHAOS_GROUP]:
        del cluster.resources[res]
    with pytest.raises(CapabilityMissing, match=r"Chaos Mesh is not installed.*helm install chaos-mesh"):
        await target.check_chaos_mesh()


async def test_missing_kind_is_capability_missing(target: KubernetesTarget) -> None:
    with pytest.raises(CapabilityMissing, match="CRDs missing for TimeChaos"):
        await target.check_chaos_mesh(["NetworkChaos", "TimeChaos"])


async def test_dry_run_persists_nothing(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    validated = await target.create(chaos(), dry_run=True)
    assert validated["metadata"]["name"] == NAME
    assert cluster.get("NetworkChaos", "shop", NAME) is None
    posts = list(cluster[kmock.method.POST, kmock.resource(NC)])
    assert [p.params.get("dryRun") for p in posts] == ["All"]


async def test_conflict_is_fine_for_same_run_only(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    first = await target.create(chaos())
    again = await target.create(chaos())  # e.g. a retried create whose first answer was lost
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    with pytest.raises(TargetError, match="not this run's"):
        await target.create(chaos(run_id="zz99"))  # same name, another run


async def test_objects_without_our_labels_are_refused(target: KubernetesTarget) -> None:
    obj = chaos()
    del obj["metadata"]["labels"]["aftershock.io/run-id"]
    with pytest.raises(TargetError, match="refusing to create"):
        await target.create(obj)


async def test_never_injected_raises_with_reason(cluster: ClusterEmulator, target: KubernetesTarget,
                                                 shop: Callable[[int], None]) -> None:
    shop(2)
    cluster.inject_after_reads = None
    await target.create(chaos())
    with pytest.raises(TargetError, match=r"not injected within 0\.1s.*chaos-daemon unreachable"):
        await target.wait_injected(chaos(), timeout=0.1)


async def test_removal_survives_500_and_429_storms(cluster: ClusterEmulator,
                                                   target: KubernetesTarget) -> None:
    await target.create(chaos())
    storm_delete = cluster[kmock.method.DELETE, kmock.resource(NC)][:3] << 500
    storm_get = cluster[kmock.method.GET, kmock.resource(NC)][:2] << 429
    report = await target.delete(chaos())
    assert report.gone
    assert len(storm_delete) == 3 and len(storm_get) >= 1
    assert cluster.get("NetworkChaos", "shop", NAME) is None
    assert await target.list_ours() == []


async def test_endless_storm_gives_up_bounded(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    await target.create(chaos())
    cluster[kmock.method.DELETE, kmock.resource(NC)] << 503
    with pytest.raises(TargetError, match=r"kept failing.*503"):
        await target.delete(chaos())
    assert len(cluster[kmock.method.DELETE]) == target.settings.retry_attempts


async def test_stuck_finalizer_is_reported_not_stripped(cluster: ClusterEmulator,
                                                        target: KubernetesTarget) -> None:
    cluster.stuck_finalizer = True
    await target.create(chaos())
    with pytest.raises(ActuatorError, match=r"chaos-mesh/records.*chaos-controller-manager"):
        await target.delete(chaos())
    still = cluster.get("NetworkChaos", "shop", NAME)
    assert still is not None and still["metadata"]["finalizers"] == ["chaos-mesh/records"]
    assert still["metadata"]["deletionTimestamp"]
    assert len(cluster[kmock.method.DELETE]) == target.settings.delete_attempts  # it retried
    assert not list(cluster[kmock.method.PATCH])  # and never touched the finalizer


async def test_remove_run_removes_only_that_run(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    await target.create(chaos(name="a-ab12cd"))
    await target.create(chaos(name="b-ab12cd", kind="PodChaos", action="pod-kill"))
    await target.create(chaos(name="c-other1", run_id="other1"))
    assert {o["metadata"]["name"] for o in await target.list_ours(run_id="ab12cd")} == {"a-ab12cd",
                                                                                        "b-ab12cd"}
    removed = await target.remove_run("ab12cd")
    assert sorted(removed) == ["NetworkChaos shop/a-ab12cd", "PodChaos shop/b-ab12cd"]
    assert [o["metadata"]["name"] for o in await target.list_ours()] == ["c-other1"]


async def test_patch_fault_shrinks_and_keeps_duration(cluster: ClusterEmulator,
                                                      target: KubernetesTarget) -> None:
    obj = chaos(action="loss", loss={"loss": "50", "correlation": "0"})
    await target.create(obj)
    patched = await target.patch_fault(obj, {"loss": {"loss": "10"}, "mode": "fixed", "value": "1"})
    assert patched["spec"]["loss"] == {"loss": "10", "correlation": "0"}
    assert (patched["spec"]["mode"], patched["spec"]["value"]) == ("fixed", "1")
    stored = cluster.get("NetworkChaos", "shop", NAME)
    assert stored is not None and stored["spec"]["duration"] == "2m"
    assert stored["metadata"]["annotations"]["aftershock.io/deadline"] == "2026-11-21T21:40:00Z"
    with pytest.raises(ActuatorError, match="duration"):
        await target.patch_fault(obj, {"duration": None})
