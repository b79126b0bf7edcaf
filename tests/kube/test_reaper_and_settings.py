"""The reaper Job (dead-man's switch) and kubeconfig loading (per-target clients, KUBECONFIG, context)
against the real API server (moved from the kmock emulator). The Job and its RBAC are read back from
the real server; a second "cluster" without Chaos Mesh is the same server behind the fault proxy
answering 404 for ``/apis/chaos-mesh.org/``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from chaos.clients.kube import KubernetesTarget, KubeSettings
from chaos.clients.kube.reaper import build_job
from chaos.errors import CapabilityMissing, TargetError
from kube.apiproxy import ApiProxy
from kube.realshop import names
from kube.testbed import Testbed

NOW = datetime(2026, 11, 21, 21, 30, tzinfo=UTC)
LABELS = {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "ab12cd",
          "app.kubernetes.io/component": "reaper"}
REAPER = "aftershock-reaper-ab12cd"


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return kube_testbed.namespace("reaper")


def settings(config: Path | str, ns: str = "default", **changes: object) -> KubeSettings:
    return dataclasses.replace(KubeSettings(kubeconfig=str(config), namespace=ns, request_timeout=20,
                                            retry_initial=0.01, retry_max_wait=0.05), **changes)  # type: ignore[arg-type]


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubernetesTarget]:
    async with KubernetesTarget.from_settings(settings(kube_testbed.kubeconfig, ns), clock=lambda: NOW) as t:
        yield t


def get(bed: Testbed, path: str) -> dict[str, object]:
    with bed.admin() as api:
        return dict(api.get(path).raise_for_status().json())


async def test_reaper_job_and_least_privilege_rbac(kube_testbed: Testbed, target: KubernetesTarget, ns: str) -> None:
    deadline = NOW + timedelta(minutes=10)
    created = await target.create_reaper("ab12cd", ns, deadline, kinds=["NetworkChaos", "PodChaos"])
    assert created == {"job": REAPER, "namespace": ns, "deadline": "2026-11-21T21:40:00+00:00",
                       "activeDeadlineSeconds": 600 + 300}
    job = get(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs/{REAPER}")
    assert job["metadata"]["labels"] == LABELS  # type: ignore[index]
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 900 and spec["ttlSecondsAfterFinished"] == 600  # type: ignore[index]
    assert spec["suspend"] is False  # type: ignore[index]  # released only after its RBAC exists
    container = spec["template"]["spec"]["containers"][0]  # type: ignore[index]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DEADLINE_EPOCH"] == str(int(deadline.timestamp()))
    assert env["CHAOS_RESOURCES"] == "networkchaos.chaos-mesh.org,podchaos.chaos-mesh.org"
    assert env["RUN_ID"] == "ab12cd" and env["TARGET_NAMESPACE"] == ns
    # the aftershock image's own reaper program (chaos/clients/kube/reap.py), no kubectl image
    assert container["command"] == ["python3", "-m", "chaos.clients.kube.reap"] and "args" not in container
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    role = get(kube_testbed, f"{rbac}/roles/{REAPER}")
    assert role["rules"] == [{"apiGroups": ["chaos-mesh.org"], "resources": ["networkchaos", "podchaos"],
                              "verbs": ["list", "delete"]}]
    binding = get(kube_testbed, f"{rbac}/rolebindings/{REAPER}")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": REAPER, "namespace": ns}]
    for obj in (role, binding, get(kube_testbed, f"/api/v1/namespaces/{ns}/serviceaccounts/{REAPER}")):
        assert obj["metadata"]["labels"] == LABELS  # type: ignore[index]
        assert obj["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]  # type: ignore[index]

    # `aftershock recover` removes the reaper with the run.
    removed = await target.remove_run("ab12cd", [ns])
    assert f"Job {ns}/{REAPER}" in removed
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs") == []
    assert names(kube_testbed, f"{rbac}/roles") == [] and names(kube_testbed, f"{rbac}/rolebindings") == []
    assert REAPER not in names(kube_testbed, f"/api/v1/namespaces/{ns}/serviceaccounts")


async def test_reaper_can_be_disabled(kube_testbed: Testbed, ns: str) -> None:
    async with KubernetesTarget.from_settings(settings(kube_testbed.kubeconfig, ns, reaper=False)) as t:
        assert await t.create_reaper("ab12cd", ns, NOW) is None
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs") == []


async def test_reaper_template_quotes_hostile_values(target: KubernetesTarget) -> None:
    changed = dataclasses.replace(target.settings, reaper_image='evil"\n  hostNetwork: true')
    job = build_job(dataclasses.replace(target._ctx, settings=changed), "ab12cd", "shop",
                    NOW + timedelta(seconds=30), ["networkchaos"], NOW)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == 'evil"\n  hostNetwork: true'
    assert "hostNetwork" not in job["spec"]["template"]["spec"]


def named_context(source: Path, path: Path, context: str) -> Path:
    config = yaml.safe_load(source.read_text())
    for section in ("clusters", "users", "contexts"):
        for entry in config[section]:
            entry["name"] = context
    config["contexts"][0]["context"] = {"cluster": context, "user": context}
    config["current-context"] = context
    path.write_text(yaml.safe_dump(config))
    return path


async def test_kubeconfig_env_and_context(kube_testbed: Testbed, api_proxy: ApiProxy, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    api_proxy.add("http-abort", "no-chaos-mesh", code=404, path_prefix="/apis/chaos-mesh.org/")
    path_a = named_context(kube_testbed.kubeconfig, tmp_path / "a", "a")  # the API server itself
    path_b = named_context(api_proxy.kubeconfig(tmp_path / "proxied"), tmp_path / "b", "b")  # no Chaos Mesh
    monkeypatch.setenv("KUBECONFIG", f"{path_a}:{path_b}")
    async with (KubernetesTarget.from_settings(KubeSettings(context="a", retry_attempts=1)) as ta,
                KubernetesTarget.from_settings(KubeSettings(context="b", retry_attempts=1)) as tb):
        assert "NetworkChaos" in await ta.check_chaos_mesh()
        with pytest.raises(CapabilityMissing, match="not installed"):
            await tb.check_chaos_mesh()
    assert api_proxy.answered(404) == 1  # b's one discovery went through the proxy, a's did not
    with pytest.raises(TargetError, match="cannot load Kubernetes configuration"):
        KubernetesTarget.from_settings(KubeSettings(kubeconfig=str(path_a), context="nope"))


def test_explicit_kubeconfig_wins_over_env(kube_testbed: Testbed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert KubeSettings(kubeconfig=str(kube_testbed.kubeconfig)).resolved_kubeconfig() == str(kube_testbed.kubeconfig)
    assert KubeSettings().resolved_kubeconfig() == "/nonexistent"


async def test_unreachable_cluster_is_a_target_error(kube_testbed: Testbed, tmp_path: Path) -> None:
    config = yaml.safe_load(kube_testbed.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # discard port: refused
    path = tmp_path / "k"
    path.write_text(yaml.safe_dump(config))
    async with KubernetesTarget.from_settings(settings(path, retry_attempts=2)) as t:
        with pytest.raises(TargetError, match="cannot reach the Kubernetes API server"):
            await t.check_chaos_mesh()
