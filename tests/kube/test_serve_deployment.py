"""``gameday serve`` as a Deployment with leader election, against the real API server: the
kustomize base (deploy/kustomize/gameday-serve) passes server-side dry run under Pod Security
``restricted``; the Lease election lets exactly one of racing candidates lead, hands over at once on
a release and only after the lease duration when a leader vanishes; two ``gameday serve
--leader-elect`` processes never lead at the same time, and the second takes over when the first
stops."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from chaos.clients.kube.lease import LeaseElector
from chaos.version import __version__
from kube.test_incluster import RESTRICTED, create, ensure_namespace
from kube.testbed import Testbed

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kustomize" / "gameday-serve"
CLI = Path(sys.executable).with_name("aftershock")


@pytest.fixture()
def admin(kube_testbed: Testbed) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kube_testbed.kubeconfig))
    yield api
    api.close()


def built_base() -> list[dict[str, Any]]:
    """The base as `kustomize build` renders it: its resources with the namespace and image set
    (the only transformations the base declares)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "images"}
    (image,) = kustomization["images"]
    objects = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((BASE / name).read_text()):
            doc = copy.deepcopy(doc)
            doc["metadata"]["namespace"] = kustomization["namespace"]
            for subject in doc.get("subjects", []):
                subject.setdefault("namespace", kustomization["namespace"])
            if doc["kind"] == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    if container["image"] == image["name"]:
                        container["image"] = f"{image['name']}:{image['newTag']}"
            objects.append(doc)
    return objects


def test_the_kustomize_base_passes_server_side_dry_run(admin: client.ApiClient) -> None:
    objects = built_base()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    ensure_namespace(admin, "aftershock")
    for obj in objects:
        accepted, warnings = create(admin, obj, dry_run=True)
        assert warnings == [], (obj["kind"], warnings)
        assert accepted["metadata"]["name"] == obj["metadata"]["name"]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/aftershock/aftershock:{__version__}"
    assert container["args"][:2] == ["gameday", "serve"] and "--leader-elect" in container["args"]
    assert deployment["spec"]["replicas"] >= 2
    role = next(o for o in objects if o["kind"] == "Role")
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"coordination.k8s.io"}
    assert RESTRICTED  # the namespace warns on anything the restricted profile forbids


def _elector(api: client.ApiClient, ns: str, name: str, who: str, **timing: Any) -> LeaseElector:
    return LeaseElector(api, ns, name, who, **({"lease_s": 4, "renew_s": 3.0, "retry_s": 0.3} | timing))


def _holder(api: client.ApiClient, ns: str, name: str) -> str | None:
    return str(client.CoordinationV1Api(api).read_namespaced_lease(name, ns).spec.holder_identity or "") or None


def test_racing_candidates_one_leads_release_hands_over_expiry_takes_over(admin: client.ApiClient) -> None:
    ns, name = "aftershock", f"lease-{uuid.uuid4().hex[:8]}"
    ensure_namespace(admin, ns)
    a, b = _elector(admin, ns, name, "a"), _elector(admin, ns, name, "b")
    barrier = threading.Barrier(2)

    def race(elector: LeaseElector) -> bool:
        barrier.wait()
        return elector.try_acquire_or_renew()

    async def both() -> list[bool]:
        return list(await asyncio.gather(asyncio.to_thread(race, a), asyncio.to_thread(race, b)))

    won = asyncio.run(both())
    assert sorted(won) == [False, True]
    leader, follower = (a, b) if won[0] else (b, a)
    assert _holder(admin, ns, name) == leader.identity
    assert leader.try_acquire_or_renew() is True      # renews
    assert follower.try_acquire_or_renew() is False   # alive as far as it has seen
    assert leader.release() is True and _holder(admin, ns, name) is None
    assert follower.try_acquire_or_renew() is True    # released: taken at once
    assert _holder(admin, ns, name) == follower.identity

    # the holder vanishes without releasing: the other waits out the lease duration it observes
    async def take_over() -> bool:
        return await leader.acquire(asyncio.Event())

    assert leader.try_acquire_or_renew() is False
    assert asyncio.run(asyncio.wait_for(take_over(), 60)) is True
    assert _holder(admin, ns, name) == leader.identity
    spec = client.CoordinationV1Api(admin).read_namespaced_lease(name, ns).spec
    assert spec.lease_transitions == 2


class Serve:
    """One ``gameday serve --leader-elect`` process and the lines it printed."""

    def __init__(self, kubeconfig: Path, tmp: Path, who: str, lease: str) -> None:
        (tmp / who).mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSHOCK_", "POD_"))}
        self.proc = subprocess.Popen(
            [str(CLI), "gameday", "serve", str(tmp / "schedules"), "--leader-elect", "--lease", lease,
             "--lease-namespace", "aftershock", "--identity", who, "--listen", "127.0.0.1:0",
             "--kubeconfig", str(kubeconfig), "--state-dir", str(tmp / who / "state")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []

    def wait_for(self, text: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"exited without {text!r}: {''.join(self.lines)[-3000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rest, _ = self.proc.communicate(timeout=120)
        self.lines.append(rest or "")
        return self.proc.returncode


@pytest.mark.timeout(300)
def test_two_serve_replicas_never_lead_together(kube_testbed: Testbed, admin: client.ApiClient,
                                               tmp_path: Path) -> None:
    ensure_namespace(admin, "aftershock")
    (tmp_path / "schedules").mkdir()
    lease = f"serve-{uuid.uuid4().hex[:8]}"
    first = Serve(kube_testbed.kubeconfig, tmp_path, "replica-1", lease)
    second = None
    try:
        first.wait_for("replica-1 leads")
        second = Serve(kube_testbed.kubeconfig, tmp_path, "replica-2", lease)
        second.wait_for("candidate replica-2")
        assert _holder(admin, "aftershock", lease) == "replica-1"
        assert first.stop() == 0                       # SIGTERM: stops scheduling, releases the Lease
        assert "stopped" in "".join(first.lines)
        second.wait_for("replica-2 leads")             # taken over at once (released)
        assert _holder(admin, "aftershock", lease) == "replica-2"
        assert not any("replica-2 leads" in line for line in first.lines)
    finally:
        first.stop()
        if second is not None:
            assert second.stop() == 0
    assert _holder(admin, "aftershock", lease) is None  # the last leader released it too
