"""Pre-flight: RBAC via SelfSubjectAccessReview, blast radius (count, percent, PDB, namespace), collisions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from chaos.clients.kube import KubernetesTarget, circuit_break_permissions, rbac
from chaos.errors import PermissionMissing, PreflightRefused
from k8s.conftest import chaos, pod
from k8s.emulator import ClusterEmulator


async def test_all_permissions_granted(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    cluster.permissions = {("*", "*", "*", "*")}
    checked = await target.preflight_access(["shop"], extra=circuit_break_permissions("shop"))
    assert rbac.Permission("shop", "chaos-mesh.org", "networkchaos", "create") in checked
    assert rbac.Permission("shop", "gateway.networking.k8s.io", "httproutes", "patch") in checked
    assert rbac.Permission("shop", "batch", "jobs", "create") in checked


async def test_missing_permissions_come_as_a_ready_role(cluster: ClusterEmulator,
                                                        target: KubernetesTarget) -> None:
    granted = set(rbac.required_permissions(["shop", "payments"],
                                            ["networkchaos", "podchaos", "stresschaos", "httpchaos"]))
    granted -= {rbac.Permission("shop", "chaos-mesh.org", "networkchaos", "create"),
                rbac.Permission("shop", "chaos-mesh.org", "networkchaos", "delete"),
                rbac.Permission("payments", "", "pods", "list")}
    cluster.permissions = {(p.namespace, p.group, p.resource, p.verb) for p in granted}
    with pytest.raises(PermissionMissing) as info:
        await target.preflight_access(["shop", "payments"])
    assert "missing 3 Kubernetes permission(s)" in str(info.value)
    roles = [d for d in yaml.safe_load_all("\n".join(info.value.details)) if d]
    assert roles == [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "aftershock-runner", "namespace": "payments"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "aftershock-runner", "namespace": "shop"},
         "rules": [{"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos"],
                    "verbs": ["create", "delete"]}]},
    ]


async def test_resolve_targets_counts_running_pods(cluster: ClusterEmulator, target: KubernetesTarget,
                                                   shop: Callable[[int], None]) -> None:
    shop(4)
    cluster.add(pod("order-pending", {"app": "order-service"}, phase="Pending"))
    res = await target.resolve_targets(chaos(mode="fixed-percent", value="50"))
    assert res.matching == [f"shop/order-{i}" for i in range(4)]
    assert res.affected == 2 and res.percent == 50
    assert res.peers == ["shop/payment-0", "shop/payment-1"]
    by_name = await target.resolve_targets(chaos(selector={"pods": {"shop": ["order-1", "gone"]}}))
    assert by_name.matching == ["shop/order-1"]


async def test_blast_radius_within_limits(target: KubernetesTarget, shop: Callable[[int], None]) -> None:
    shop(4)
    res = await target.check_blast_radius(chaos(), max_targets=2, max_percent=25, allowed_namespaces=["shop"])
    assert res.affected == 1


async def test_blast_radius_count_and_percent(target: KubernetesTarget, shop: Callable[[int], None]) -> None:
    shop(4)
    with pytest.raises(PreflightRefused) as info:
        await target.check_blast_radius(chaos(mode="all"), max_targets=2, max_percent=25)
    assert len(info.value.details) == 2
    assert "4 pods would be affected (mode all of 4 matching), more than maxTargets 2" in info.value.details[0]
    assert "100% of the matching pods (4/4)" in info.value.details[1]


async def test_blast_radius_namespace_outside_allowed(target: KubernetesTarget,
                                                      shop: Callable[[int], None]) -> None:
    shop(2)
    obj = chaos()
    obj["spec"]["target"]["selector"]["namespaces"] = ["payments"]
    with pytest.raises(PreflightRefused, match="namespace 'payments' is outside"):
        await target.check_blast_radius(obj, max_targets=5, allowed_namespaces=["shop"])
    with pytest.raises(PreflightRefused, match="system namespace"):
        await target.check_blast_radius(chaos(selector={"namespaces": ["kube-system"]}),
                                        allowed_namespaces=["kube-system"])


async def test_blast_radius_no_match(target: KubernetesTarget) -> None:
    with pytest.raises(PreflightRefused, match="matches no Running pods"):
        await target.check_blast_radius(chaos(), max_targets=1)


async def test_blast_radius_pdb_would_be_violated(cluster: ClusterEmulator, target: KubernetesTarget,
                                                  shop: Callable[[int], None]) -> None:
    shop(3)
    cluster.add({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                 "metadata": {"name": "order-pdb", "namespace": "shop"},
                 "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "order-service"}}}})
    kill = chaos(kind="PodChaos", action="pod-kill")
    with pytest.raises(PreflightRefused, match=r"PodDisruptionBudget shop/order-pdb allows 0 disruption"):
        await target.check_blast_radius(kill, max_targets=1)
    # The same budget allows one disruption once it is 2 of 3.
    pdb = cluster.get("PodDisruptionBudget", "shop", "order-pdb")
    assert pdb is not None
    pdb["spec"]["minAvailable"] = 2
    cluster.add(pdb)
    assert (await target.check_blast_radius(kill, max_targets=1)).affected == 1
    # Network faults do not evict pods: PDBs are not consulted.
    assert (await target.check_blast_radius(chaos(), max_targets=1)).affected == 1


async def test_collisions_refused_or_warned(cluster: ClusterEmulator, target: KubernetesTarget,
                                            shop: Callable[[int], None]) -> None:
    shop(2)
    foreign = chaos(name="someone-elses", run_id="x")
    foreign["metadata"]["labels"] = {"team": "sre"}
    cluster.add(foreign)
    cluster.add(chaos(name="unrelated", selector={"namespaces": ["shop"],
                                                  "labelSelectors": {"app": "payment-gateway"}}))
    with pytest.raises(PreflightRefused) as info:
        await target.collision_check(chaos())
    assert info.value.details == [
        "NetworkChaos shop/someone-elses (not managed by aftershock) already selects shop/order-0, shop/order-1"]
    warnings = await target.collision_check(chaos(), force=True)
    assert warnings == info.value.details
