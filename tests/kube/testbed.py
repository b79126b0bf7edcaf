"""The real control plane for tests: ``scripts/kube-testbed`` (etcd + kube-apiserver +
kube-controller-manager built from the pinned Go modules, real Chaos Mesh / Gateway API / Istio
CRDs) started once per pytest session, plus small helpers to act on it as the admin or as a
restricted ServiceAccount (a real TokenRequest).

Its session fixture :func:`kube_testbed` is imported by the conftests of tests/kube and tests/k8s_run.
The build itself happens in ``scripts/setup.sh`` (``make test``), so a test never waits for it.
"""

from __future__ import annotations

import atexit
import json
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kube-testbed"


@dataclass(frozen=True)
class Testbed:
    __test__ = False  # not a test class
    """A running control plane: its URL, admin kubeconfig and PKI, and the Chaos Mesh oracle."""

    url: str
    workdir: Path
    kubeconfig: Path
    oracle: Path
    timings: dict[str, float]

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def admin(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client authenticated as the admin (system:masters)."""
        tls = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        tls.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return httpx.Client(base_url=self.url, verify=tls, timeout=timeout)

    def namespace(self, prefix: str = "t", reaper: bool = True) -> str:
        """Create a fresh namespace (each test gets its own; the session shares one API server) and
        wait until the controller-manager has made its ``default`` ServiceAccount (pods need it).
        With ``reaper``, install the reaper there as an administrator would, once
        (``aftershock rbac FILE --reaper``: chaos.clients.kube.reaper.reaper_manifests)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        with self.admin() as api:
            reply = api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
            reply.raise_for_status()
            deadline = time.monotonic() + 60
            while api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code != 200:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no default ServiceAccount in {name} after 60s")
                time.sleep(0.1)  # the service account controller has no event we can await here
        if reaper:
            from chaos.clients.kube.reaper import reaper_manifests
            from chaos.clients.kube.settings import KubeSettings

            for doc in reaper_manifests(KubeSettings(), name):
                self.apply(doc)
        return name

    def running_pod(self, namespace: str, name: str, labels: dict[str, str], ready: bool = True,
                    phase: str = "Running") -> dict[str, Any]:
        """Create a Pod and set its status as a kubelet would (there is no kubelet here)."""
        with self.admin() as api:
            reply = api.post(f"/api/v1/namespaces/{namespace}/pods", json={
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}],
                         "automountServiceAccountToken": False}})
            reply.raise_for_status()
            pod = reply.json()
            pod["status"] = {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}
            reply = api.put(f"/api/v1/namespaces/{namespace}/pods/{name}/status", json=pod)
            reply.raise_for_status()
            return dict(reply.json())

    def apply_yaml(self, text: str) -> list[dict[str, Any]]:
        return [self.apply(doc) for doc in yaml.safe_load_all(text) if doc]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` as the admin (by its apiVersion/kind; plural from discovery)."""
        with self.admin() as api:
            reply = api.post(collection_path(api, obj), json=obj)
            if reply.status_code >= 300:
                raise AssertionError(f"creating {obj.get('kind')} failed: {reply.status_code} {reply.text}")
            return dict(reply.json())

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """Create ServiceAccount ``namespace/name`` and a kubeconfig holding a real TokenRequest token."""
        with self.admin() as api:
            reply = api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                             json={"apiVersion": "v1", "kind": "ServiceAccount",
                                   "metadata": {"name": name}})
            if reply.status_code not in (201, 409):
                reply.raise_for_status()
            reply = api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                             json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                   "spec": {"expirationSeconds": 3600}})
            reply.raise_for_status()
            token = reply.json()["status"]["token"]
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        cfg["users"] = [{"name": name, "user": {"token": token}}]
        cfg["contexts"] = [{"name": "testbed", "context": {"cluster": "testbed", "user": name,
                                                           "namespace": namespace}}]
        path.write_text(yaml.safe_dump(cfg))
        return path


_PLURALS: dict[tuple[str, str], str] = {}


def collection_path(api: httpx.Client, obj: dict[str, Any], namespace: str | None = None) -> str:
    """``/api(s)/…/namespaces/NS/<plural>`` for ``obj``, the plural found by discovery."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    key = (api_version, kind)
    if key not in _PLURALS:
        for res in api.get(base).raise_for_status().json()["resources"]:
            if "/" not in res["name"]:
                _PLURALS[(api_version, res["kind"])] = res["name"]
    ns = namespace or (obj.get("metadata") or {}).get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    return f"{base}{scope}/{_PLURALS[key]}"


def start(workdir: Path) -> Testbed:
    proc = subprocess.run([sys.executable, str(SCRIPT), "up", str(workdir), "--no-build"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/kube-testbed up failed:\n{proc.stderr[-4000:]}")
    sys.stderr.write(proc.stderr)
    state = json.loads(proc.stdout)
    return Testbed(url=state["url"], workdir=Path(state["workdir"]),
                   kubeconfig=Path(state["kubeconfig"]), oracle=Path(state["oracle"]),
                   timings=state["timings"])


def stop(workdir: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "down", str(workdir)], check=True)


_SHARED: list[Testbed] = []


def shared(factory: pytest.TempPathFactory) -> Testbed:
    """The one control plane of this pytest process (started on first use, stopped at exit).

    Several conftests import :func:`kube_testbed`; this keeps it to one API server per session.
    """
    if not _SHARED:
        workdir = factory.mktemp("kube-testbed")
        _SHARED.append(start(workdir))
        atexit.register(stop, workdir)
    return _SHARED[0]


@pytest.fixture(scope="session")
def kube_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    yield shared(tmp_path_factory)
