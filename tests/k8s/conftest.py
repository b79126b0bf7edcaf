"""Fixtures for the Kubernetes target tests: an emulated API server on a loopback port (kmock,
extended in :mod:`tests.k8s.emulator`), a kubeconfig file pointing at it, and a
:class:`KubernetesTarget` built through the normal kubeconfig loading path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from chaos.clients.kube import KubernetesTarget, KubeSettings
from k8s.emulator import ClusterEmulator

NOW = datetime(2026, 11, 21, 21, 30, tzinfo=UTC)


@pytest.fixture
async def cluster() -> AsyncIterator[ClusterEmulator]:
    async with ClusterEmulator() as emu, kmock.Server(emu):
        emu.install_chaos_mesh()
        yield emu


def write_kubeconfig(path: Path, url: str, context: str = "emulated") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {"token": "test-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                   "namespace": "shop"}}],
    }))
    return path


@pytest.fixture
def fast_settings(tmp_path: Path, cluster: ClusterEmulator) -> KubeSettings:
    url = str(cluster.url).rstrip("/")
    return KubeSettings(
        kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", url)), namespace="shop",
        request_timeout=5, retry_attempts=6, retry_initial=0.005, retry_max_wait=0.02, retry_total=5,
        poll_interval=0.01, finalizer_timeout=0.05, delete_attempts=2)


@pytest.fixture
async def target(fast_settings: KubeSettings) -> AsyncIterator[KubernetesTarget]:
    t = KubernetesTarget.from_settings(fast_settings, clock=lambda: NOW)
    try:
        yield t
    finally:
        await t.close()


def pod(name: str, labels: dict[str, str], namespace: str = "shop", phase: str = "Running",
        ready: bool = True) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "x"}]},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def chaos(name: str = "payment-latency-payment-delay-ab12cd", run_id: str = "ab12cd",
          kind: str = "NetworkChaos", namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action": "delay", "mode": "one",
        "selector": {"namespaces": [namespace], "labelSelectors": {"app": "order-service"}},
        "delay": {"latency": "500ms", "jitter": "0ms", "correlation": "0"},
        "direction": "to",
        "target": {"mode": "all", "selector": {"namespaces": [namespace],
                                               "labelSelectors": {"app": "payment-gateway"}}},
        "duration": "2m",
    } if kind == "NetworkChaos" else {"mode": "one", "duration": "2m",
                                      "selector": {"namespaces": [namespace],
                                                   "labelSelectors": {"app": "order-service"}}}
    base.update(spec)
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "aftershock",
                                "aftershock.io/experiment": "payment-latency",
                                "aftershock.io/run-id": run_id},
                     "annotations": {"aftershock.io/source": "experiments/payment-latency.yaml",
                                     "aftershock.io/fault": "payment-delay",
                                     "aftershock.io/deadline": "2026-11-21T21:40:00Z"}},
        "spec": base,
    }


@pytest.fixture
def shop(cluster: ClusterEmulator) -> Callable[[int], None]:
    """Populate ``shop`` with n order-service pods and two payment-gateway pods."""
    def populate(n: int = 4) -> None:
        for i in range(n):
            cluster.add(pod(f"order-{i}", {"app": "order-service"}))
        for i in range(2):
            cluster.add(pod(f"payment-{i}", {"app": "payment-gateway"}))
    return populate
