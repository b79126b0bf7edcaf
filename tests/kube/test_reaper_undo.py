"""The reaper reverts an expired degrade from the undo annotation the degrade's own patch wrote —
against the real API server, as the reaper's own ServiceAccount, whose Role may get/patch exactly
the objects the experiment degrades (resourceNames) and nothing else. A forged annotation naming
another object is never acted on; a degrade whose deadline has not passed is left alone."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chaos.clients.kube import KubeClient, KubeSettings
from chaos.clients.kube.rbac import Permission, allowed
from chaos.clients.kube.reap import revert_expired
from chaos.clients.kube.reaper import REAPER_NAME, reaper_manifests
from kube.realshop import read
from kube.testbed import Testbed

PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


def settings(config: Path | str, ns: str) -> KubeSettings:
    return dataclasses.replace(KubeSettings(kubeconfig=str(config), namespace=ns, request_timeout=20,
                                            retry_initial=0.01, retry_max_wait=0.05))


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    name = kube_testbed.namespace("undo", reaper=False)
    for doc in reaper_manifests(KubeSettings(), name, undo_objects=[("ConfigMap", "flags"), ("ConfigMap", "later")]):
        kube_testbed.apply(doc)
    return name


@pytest.fixture
async def target(kube_testbed: Testbed, ns: str) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_settings(settings(kube_testbed.kubeconfig, ns)) as t:
        yield t


async def test_the_reaper_reverts_an_expired_degrade_from_its_annotation(
        kube_testbed: Testbed, target: KubeClient, ns: str, tmp_path: Path) -> None:
    flags = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                                "data": {"payment_channel": "primary"}})
    later = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": ns},
                                "data": {"payment_channel": "primary"}})
    token = await target.apply_patch("ConfigMap", ns, "flags", {"data": {"payment_channel": "backup"}},
                                     undo=("ab12cd", PAST))
    await target.apply_patch("ConfigMap", ns, "later", {"data": {"payment_channel": "backup"}}, undo=("ab12cd", FUTURE))
    patched = read(kube_testbed, flags)
    assert patched is not None and patched["data"] == {"payment_channel": "backup"}
    record = json.loads(patched["metadata"]["annotations"][token.annotation])
    assert token.annotation == "undo.aftershock.io/ab12cd.0" and record["deadline"] == PAST
    assert record["token"]["changes"] == [{"field": "data", "key": "payment_channel", "before": "primary",
                                           "after": "backup"}]

    config = kube_testbed.service_account_kubeconfig(ns, REAPER_NAME, tmp_path / "reaper.kubeconfig")
    async with KubeClient.from_settings(settings(config, ns)) as as_reaper:
        for perm, expected in [(Permission(ns, "", "configmaps", "patch", "flags"), True),
                               (Permission(ns, "", "configmaps", "get", "later"), True),
                               (Permission(ns, "", "configmaps", "patch", "payments"), False),
                               (Permission(ns, "", "configmaps", "list"), False),
                               (Permission(ns, "", "secrets", "get"), False)]:
            assert allowed(as_reaper._ctx, perm) is expected, perm.describe()
        said = revert_expired(as_reaper._ctx, ns, [("ConfigMap", "flags"), ("ConfigMap", "later")], datetime.now(UTC))
    assert said == [f"reverted ConfigMap/flags (undo.aftershock.io/ab12cd.0, deadline {PAST})"]
    reverted = read(kube_testbed, flags)
    assert reverted is not None and reverted["data"] == {"payment_channel": "primary"}
    assert "undo.aftershock.io/ab12cd.0" not in (reverted["metadata"].get("annotations") or {})
    untouched = read(kube_testbed, later)
    assert untouched is not None and untouched["data"] == {"payment_channel": "backup"}  # its deadline is ahead


async def test_a_forged_undo_annotation_never_patches_another_object(
        kube_testbed: Testbed, target: KubeClient, ns: str) -> None:
    forged = {"v": 1, "deadline": PAST, "token": {"kind": "ConfigMap", "namespace": ns, "name": "later",
                                                  "changes": [{"field": "data", "key": "payment_channel",
                                                               "before": "evil", "after": "primary"}]}}
    kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "flags", "namespace": ns,
                                     "annotations": {"undo.aftershock.io/ffff.0": json.dumps(forged),
                                                     "undo.aftershock.io/ffff.1": "{not json"}},
                        "data": {"payment_channel": "primary"}})
    later = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": ns},
                                "data": {"payment_channel": "primary"}})
    said = revert_expired(target._ctx, ns, [("ConfigMap", "flags")], datetime.now(UTC))
    assert said[0] == "left ConfigMap/flags undo.aftershock.io/ffff.0: its token names another object"
    assert said[1].startswith("left ConfigMap/flags undo.aftershock.io/ffff.1: malformed undo record")
    assert read(kube_testbed, later)["data"] == {"payment_channel": "primary"}  # type: ignore[index]


def test_rbac_reaper_names_exactly_the_degraded_objects() -> None:
    """``aftershock rbac FILE --reaper``: get/patch by resourceNames on what FILE degrades, and the
    sweep told which objects to read (no cluster needed)."""
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(Path(sys.executable).parent / "aftershock"), "rbac",
                           str(repo / "experiments" / "http-abort.yaml"), "--reaper"],
                          capture_output=True, text=True, timeout=120, cwd=repo)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["rules"][1:] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["storefront-flags"],
                                  "verbs": ["get", "patch"]}]
    cron = next(d for d in docs if d["kind"] == "CronJob")
    env = {e["name"]: e["value"] for e in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["UNDO_OBJECTS"] == "ConfigMap/storefront-flags"
