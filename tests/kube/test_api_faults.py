"""API trouble between the client and the real API server, injected by Aftershock's own fault proxy
(TCP mode: the API server speaks TLS only, so the proxy cuts and holds connections rather than
answering HTTP codes): resets are retried until the work is done; a partition or a silent hold
fails bounded, with a clear error."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from chaos.clients.kube import KubernetesTarget, KubeSettings
from chaos.errors import TargetError
from kube.testbed import Testbed


@pytest.fixture
async def proxy(kube_testbed: Testbed) -> AsyncIterator[FaultProxy]:
    api = urlsplit(kube_testbed.url)
    upstream = Upstream("kube-apiserver", str(api.hostname), int(api.port or 443))
    async with FaultProxy(("127.0.0.1", 0), [upstream], seed=13) as p:
        yield p


def through(bed: Testbed, proxy: FaultProxy, path: Path) -> Path:
    """The admin kubeconfig, pointed at the proxy (its serving certificate names 127.0.0.1)."""
    config = yaml.safe_load(bed.kubeconfig.read_text())
    host, port = proxy.address
    config["clusters"][0]["cluster"]["server"] = f"https://{host}:{port}"
    path.write_text(yaml.safe_dump(config))
    return path


def fault(kind: str, **params: Any) -> ProxyFault:
    return ProxyFault.from_dict({"id": kind, "run_id": "api-faults", "kind": kind,
                                 "deadline": time.time() + 120, **params})


def chaos(ns: str) -> dict[str, Any]:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
            "metadata": {"name": "kill-web-ab12cd", "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "ab12cd"}},
            "spec": {"action": "pod-kill", "mode": "one", "duration": "1m",
                     "selector": {"namespaces": [ns], "labelSelectors": {"app": "web"}}}}


async def test_resets_are_retried_until_the_work_is_done(kube_testbed: Testbed, proxy: FaultProxy,
                                                         tmp_path: Path) -> None:
    ns = kube_testbed.namespace("faults")
    settings = KubeSettings(kubeconfig=str(through(kube_testbed, proxy, tmp_path / "cfg")), namespace=ns,
                            request_timeout=10, retry_attempts=20, retry_initial=0.01, retry_max_wait=0.1,
                            retry_total=60, poll_interval=0.05)
    proxy.add_fault(fault("reset", percent=10))  # of connections and of each later chunk
    async with KubernetesTarget.from_settings(settings) as target:
        await target.check_chaos_mesh(["PodChaos"])
        await target.create(chaos(ns))
        assert len(await target.list_ours("ab12cd", [ns])) == 1
        assert await target.remove_run("ab12cd", [ns]) == [f"PodChaos {ns}/kill-web-ab12cd"]
    with kube_testbed.admin() as api:
        assert api.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/podchaos").json()["items"] == []
    resets = proxy.metrics.registry.get_sample_value("aftershock_proxy_faults_injected_total", {"kind": "reset"})
    assert resets and resets >= 1  # the resets did happen, and were retried


@pytest.mark.parametrize("kind", ["partition", "timeout"])
async def test_an_unreachable_api_server_fails_bounded_and_clearly(kube_testbed: Testbed, proxy: FaultProxy,
                                                                   tmp_path: Path, kind: str) -> None:
    settings = KubeSettings(kubeconfig=str(through(kube_testbed, proxy, tmp_path / "cfg")), namespace="default",
                            request_timeout=0.5, retry_attempts=3, retry_initial=0.01, retry_max_wait=0.05,
                            retry_total=5)
    proxy.add_fault(fault(kind))
    async with KubernetesTarget.from_settings(settings) as target:
        with pytest.raises(TargetError) as info:
            await target.check_chaos_mesh(["PodChaos"])
    assert "Traceback" not in str(info.value)
    assert "discover chaos-mesh.org/v1alpha1" in str(info.value)
