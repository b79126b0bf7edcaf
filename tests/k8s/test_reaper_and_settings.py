"""The reaper Job (dead-man's switch) and kubeconfig loading (per-target clients, KUBECONFIG, context)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import kmock
import pytest
import yaml

from chaos.clients.kube import KubernetesTarget, KubeSettings
from chaos.clients.kube.reaper import build_job
from chaos.errors import TargetError
from k8s.conftest import NOW, chaos, write_kubeconfig
from k8s.emulator import ClusterEmulator

LABELS = {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "ab12cd",
          "app.kubernetes.io/component": "reaper"}


async def test_reaper_job_and_least_privilege_rbac(cluster: ClusterEmulator, target: KubernetesTarget) -> None:
    deadline = NOW + timedelta(minutes=10)
    created = await target.create_reaper("ab12cd", "shop", deadline, kinds=["NetworkChaos", "PodChaos"])
    assert created == {"job": "aftershock-reaper-ab12cd", "namespace": "shop",
                       "deadline": "2026-11-21T21:40:00+00:00", "activeDeadlineSeconds": 600 + 300}
    job = cluster.get("Job", "shop", "aftershock-reaper-ab12cd")
    assert job is not None
    assert job["metadata"]["labels"] == LABELS
    assert job["spec"]["activeDeadlineSeconds"] == 900
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    assert job["spec"]["suspend"] is False  # released only after its RBAC exists
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DEADLINE_EPOCH"] == str(int(deadline.timestamp()))
    assert env["CHAOS_RESOURCES"] == "networkchaos.chaos-mesh.org,podchaos.chaos-mesh.org"
    assert 'kubectl delete "$CHAOS_RESOURCES"' in container["args"][0]
    assert '-l "aftershock.io/run-id=$RUN_ID"' in container["args"][0]
    role = cluster.get("Role", "shop", "aftershock-reaper-ab12cd")
    assert role is not None
    assert role["rules"] == [{"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos", "podchaos"],
                              "verbs": ["list", "delete"]}]
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        obj = cluster.get(kind, "shop", "aftershock-reaper-ab12cd")
        assert obj is not None and obj["metadata"]["labels"] == LABELS
        assert obj["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    binding = cluster.get("RoleBinding", "shop", "aftershock-reaper-ab12cd")
    assert binding is not None
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "aftershock-reaper-ab12cd",
                                    "namespace": "shop"}]
    # The Job was created suspended, then released with a patch.
    posts = list(cluster[kmock.method.POST, kmock.resource("batch/v1/jobs")])
    assert posts[0].data["spec"]["suspend"] is True

    # `aftershock recover` removes the reaper with the run.
    await target.create(chaos())
    removed = await target.remove_run("ab12cd")
    assert "Job shop/aftershock-reaper-ab12cd" in removed
    for kind in ("Job", "ServiceAccount", "Role", "RoleBinding"):
        assert cluster.get(kind, "shop", "aftershock-reaper-ab12cd") is None


async def test_reaper_can_be_disabled(cluster: ClusterEmulator, fast_settings: KubeSettings) -> None:
    async with KubernetesTarget.from_settings(dataclasses.replace(fast_settings, reaper=False)) as t:
        assert await t.create_reaper("ab12cd", "shop", NOW) is None
    assert not list(cluster[kmock.method.POST])


async def test_reaper_template_quotes_hostile_values(target: KubernetesTarget) -> None:
    settings = dataclasses.replace(target.settings, reaper_image='evil"\n  hostNetwork: true')
    job = build_job(dataclasses.replace(target._ctx, settings=settings), "ab12cd", "shop",
                    NOW + timedelta(seconds=30), ["networkchaos"], NOW)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == 'evil"\n  hostNetwork: true'
    assert "hostNetwork" not in job["spec"]["template"]["spec"]


async def test_kubeconfig_env_and_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ClusterEmulator() as a, kmock.Server(a), ClusterEmulator() as b, kmock.Server(b):
        a.install_chaos_mesh()  # only cluster a has Chaos Mesh
        path_a = write_kubeconfig(tmp_path / "a", str(a.url).rstrip("/"), context="a")
        path_b = write_kubeconfig(tmp_path / "b", str(b.url).rstrip("/"), context="b")
        monkeypatch.setenv("KUBECONFIG", f"{path_a}:{path_b}")
        fast = {"retry_attempts": 1}
        async with (KubernetesTarget.from_settings(KubeSettings(context="a", **fast)) as ta,  # type: ignore[arg-type]
                    KubernetesTarget.from_settings(KubeSettings(context="b", **fast)) as tb):  # type: ignore[arg-type]
            assert "NetworkChaos" in await ta.check_chaos_mesh()
            with pytest.raises(Exception, match="not installed"):
                await tb.check_chaos_mesh()
        assert len(a[kmock.method.GET]) == 1 and len(b[kmock.method.GET]) == 1
        with pytest.raises(TargetError, match="cannot load Kubernetes configuration"):
            KubernetesTarget.from_settings(KubeSettings(kubeconfig=str(path_a), context="nope"))


def test_explicit_kubeconfig_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    path = write_kubeconfig(tmp_path / "k", "http://127.0.0.1:1")
    assert KubeSettings(kubeconfig=str(path)).resolved_kubeconfig() == str(path)
    assert KubeSettings().resolved_kubeconfig() == "/nonexistent"
    assert yaml.safe_load(path.read_text())["current-context"] == "emulated"


async def test_unreachable_cluster_is_a_target_error(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "k", "http://127.0.0.1:9")  # discard port: refused
    settings = KubeSettings(kubeconfig=str(path), retry_attempts=2, retry_initial=0.001, retry_max_wait=0.002)
    async with KubernetesTarget.from_settings(settings) as t:
        with pytest.raises(TargetError, match="cannot reach the Kubernetes API server"):
            await t.check_chaos_mesh()
