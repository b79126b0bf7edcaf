"""The reaper (dead-man's switch, installed once per namespace) and kubeconfig loading (per-target clients, KUBECONFIG, context)
against the real API server (moved from the kmock emulator). The reaper's CronJob and RBAC are read back
from the real server and its ServiceAccount's rights asked with SelfSubjectAccessReview; a second "cluster" without Chaos Mesh is the same server behind the fault proxy
answering 404 for ``/apis/chaos-mesh.org/``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from chaos.clients.kube import KubeClient, KubeSettings
from chaos.clients.kube.rbac import Permission, allowed
from chaos.clients.kube.reaper import reaper_manifests
from chaos.errors import CapabilityMissing, TargetError
from kube.apiproxy import ApiProxy
from kube.realshop import names
from kube.testbed import Testbed

NOW = datetime(2026, 11, 21, 21, 30, tzinfo=UTC)
LABELS = {"app.kubernetes.io/managed-by": "aftershock", "app.kubernetes.io/component": "reaper"}
REAPER = "aftershock-reaper"


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return kube_testbed.namespace("reaper")


def settings(config: Path | str, ns: str = "default", **changes: object) -> KubeSettings:
    return dataclasses.replace(KubeSettings(kubeconfig=str(config), namespace=ns, request_timeout=20,
                                            retry_initial=0.01, retry_max_wait=0.05), **changes)  # type: ignore[arg-type]


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, ns), clock=lambda: NOW) as t:
        yield t


def get(bed: Testbed, path: str) -> dict[str, object]:
    with bed.admin() as api:
        return dict(api.get(path).raise_for_status().json())


async def test_the_installed_reaper_and_its_least_privilege(kube_testbed: Testbed, target: KubeClient,
                                                             ns: str, tmp_path: Path) -> None:
    """The reaper an administrator installs (the testbed's namespaces get it like `aftershock rbac
    --reaper`): a CronJob sweeping every minute under its own ServiceAccount, whose Role lists and
    deletes chaos kinds and nothing else. A run only reads the CronJob: create_reaper creates nothing."""
    cron = get(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/cronjobs/{REAPER}")
    assert cron["metadata"]["labels"] == LABELS  # type: ignore[index]
    spec = cron["spec"]
    assert spec["schedule"] == "* * * * *" and spec["concurrencyPolicy"] == "Forbid"  # type: ignore[index]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[index]
    assert pod["serviceAccountName"] == REAPER
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["GRACE_SECONDS"] == "300" and "networkchaos.chaos-mesh.org" in env["CHAOS_RESOURCES"].split(",")
    # the aftershock image's own sweep (chaos/clients/kube/reap.py), no kubectl image
    assert pod["containers"][0]["command"] == ["python3", "-m", "chaos.clients.kube.reap"]
    assert "args" not in pod["containers"][0]
    role = get(kube_testbed, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/{REAPER}")
    assert [r["apiGroups"] for r in role["rules"]] == [["chaos-mesh.org"]]  # type: ignore[index]
    assert role["rules"][0]["verbs"] == ["list", "delete"]  # type: ignore[index]

    created = await target.create_reaper("ab12cd", ns, NOW + timedelta(minutes=10), kinds=["NetworkChaos"])
    assert created == {"job": REAPER, "namespace": ns, "deadline": "2026-11-21T21:40:00+00:00",
                       "reaper": f"CronJob {ns}/{REAPER}"}
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/jobs", "aftershock.io/run-id") == []
    assert await target.remove_run("ab12cd", [ns]) == []  # the reaper is the namespace's: it stays
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/cronjobs") == [REAPER]

    # as its own ServiceAccount (a real token), the reaper may list/delete chaos objects, nothing else
    config = kube_testbed.service_account_kubeconfig(ns, REAPER, tmp_path / "reaper.kubeconfig")
    async with KubeClient.from_settings(settings(config, ns)) as as_reaper:
        for perm, expected in [(Permission(ns, "chaos-mesh.org", "networkchaos", "delete"), True),
                               (Permission(ns, "chaos-mesh.org", "podchaos", "list"), True),
                               (Permission(ns, "chaos-mesh.org", "networkchaos", "create"), False),
                               (Permission(ns, "", "pods", "create"), False),
                               (Permission(ns, "batch", "jobs", "create"), False),
                               (Permission(ns, "", "secrets", "get"), False)]:
            assert allowed(as_reaper._ctx, perm) is expected, perm.describe()


async def test_a_run_refuses_to_inject_where_no_reaper_is_armed(kube_testbed: Testbed) -> None:
    bare = kube_testbed.namespace("noreaper", reaper=False)
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, bare), clock=lambda: NOW) as t:
        with pytest.raises(TargetError, match=f"no reaper in namespace {bare}.*aftershock rbac FILE --reaper"):
            await t.create_reaper("ab12cd", bare, NOW + timedelta(minutes=1), kinds=["NetworkChaos"])
        with kube_testbed.admin() as api:  # someone else's CronJob of that name is not our reaper
            api.post(f"/apis/batch/v1/namespaces/{bare}/cronjobs", json={
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": REAPER},
                "spec": {"schedule": "0 0 1 1 *", "suspend": True, "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}}}}}}).raise_for_status()
        with pytest.raises(TargetError, match="is not Aftershock's reaper"):
            await t.create_reaper("ab12cd", bare, NOW + timedelta(minutes=1), kinds=["NetworkChaos"])


async def test_a_suspended_reaper_is_not_armed(kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    with kube_testbed.admin() as api:
        api.patch(f"/apis/batch/v1/namespaces/{ns}/cronjobs/{REAPER}", json={"spec": {"suspend": True}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    with pytest.raises(TargetError, match="suspended"):
        await target.create_reaper("ab12cd", ns, NOW + timedelta(minutes=1), kinds=["NetworkChaos"])


async def test_reaper_can_be_disabled(kube_testbed: Testbed) -> None:
    bare = kube_testbed.namespace("noreaper", reaper=False)
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, bare, reaper=False)) as t:
        assert await t.create_reaper("ab12cd", bare, NOW) is None
    assert names(kube_testbed, f"/apis/batch/v1/namespaces/{bare}/jobs") == []


def test_reaper_template_quotes_hostile_values() -> None:
    changed = dataclasses.replace(KubeSettings(), reaper_image='evil"\n  hostNetwork: true')
    cron = next(d for d in reaper_manifests(changed, "shop") if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == 'evil"\n  hostNetwork: true'
    assert "hostNetwork" not in pod


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
    async with (KubeClient.from_settings(KubeSettings(context="a", retry_attempts=1)) as ta,
                KubeClient.from_settings(KubeSettings(context="b", retry_attempts=1)) as tb):
        assert "NetworkChaos" in await ta.check_chaos_mesh()
        with pytest.raises(CapabilityMissing, match="not installed"):
            await tb.check_chaos_mesh()
    assert api_proxy.answered(404) == 1  # b's one discovery went through the proxy, a's did not
    with pytest.raises(TargetError, match="cannot load Kubernetes configuration"):
        KubeClient.from_settings(KubeSettings(kubeconfig=str(path_a), context="nope"))


def test_explicit_kubeconfig_wins_over_env(kube_testbed: Testbed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert KubeSettings(kubeconfig=str(kube_testbed.kubeconfig)).resolved_kubeconfig() == str(kube_testbed.kubeconfig)
    assert KubeSettings().resolved_kubeconfig() == "/nonexistent"


async def test_unreachable_cluster_is_a_target_error(kube_testbed: Testbed, tmp_path: Path) -> None:
    config = yaml.safe_load(kube_testbed.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # discard port: refused
    path = tmp_path / "k"
    path.write_text(yaml.safe_dump(config))
    async with KubeClient.from_settings(settings(path, retry_attempts=2)) as t:
        with pytest.raises(TargetError, match="cannot reach the Kubernetes API server"):
            await t.check_chaos_mesh()
