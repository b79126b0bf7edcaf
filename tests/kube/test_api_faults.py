"""API trouble between the client and the real API server, injected by Aftershock's own fault proxy.

HTTP mode (:mod:`kube.apiproxy`: the proxy terminates TLS and re-originates it to kube-apiserver):
500 / 429 / 503 storms and 409 conflicts on real API traffic. Retried storms end with the work done;
endless ones fail bounded with a clear error; an injected error never reaches the server, so each
test reads the real server back (directly, not through the proxy) to check that the failed calls
changed nothing. TCP mode (the proxy passes TLS through): resets are retried until the work is done;
a partition fails bounded, with a clear error. A silent hold (accepted, never answered) is a
listener of the test's that never answers (:func:`black_hole`): it fails bounded too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import ProxyFault, Upstream
from chaos.clients.kube import KubeClient, KubeSettings, WeightSnapshot
from chaos.errors import ActuatorError, TargetError
from kube.apiproxy import ApiProxy
from kube.realshop import chaos_items, read
from kube.testbed import Testbed

CM = "chaos-mesh.org/v1alpha1"


@pytest.fixture
async def black_hole() -> AsyncIterator[tuple[str, int]]:
    """A loopback listener that accepts connections and never answers (a server that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        host, port = server.sockets[0].getsockname()[:2]
        yield str(host), int(port)
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


def pointed_at(source: Path, address: tuple[str, int], path: Path) -> Path:
    """The kubeconfig ``source`` with its server at ``address``."""
    config = yaml.safe_load(source.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://{address[0]}:{address[1]}"
    path.write_text(yaml.safe_dump(config))
    return path


def settings(config: Path, ns: str, **changes: Any) -> KubeSettings:
    values: dict[str, Any] = {"kubeconfig": str(config), "namespace": ns, "request_timeout": 10,
                              "retry_attempts": 12, "retry_initial": 0.01, "retry_max_wait": 0.05,
                              "retry_total": 60, "poll_interval": 0.05, "finalizer_timeout": 2,
                              "delete_attempts": 2}
    values.update(changes)
    return KubeSettings(**values)


def chaos(ns: str, name: str = "kill-web-ab12cd", kind: str = "PodChaos", run_id: str = "ab12cd") -> dict[str, Any]:
    spec: dict[str, Any] = {"action": "pod-kill", "mode": "one", "duration": "1m",
                            "selector": {"namespaces": [ns], "labelSelectors": {"app": "web"}}}
    if kind == "NetworkChaos":
        spec = {**spec, "action": "loss", "loss": {"loss": "50", "correlation": "0"}, "duration": "2m"}
    return {"apiVersion": CM, "kind": kind,
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id},
                         "annotations": {"aftershock.io/deadline": "2026-11-21T21:40:00Z"}},
            "spec": spec}


# --- HTTP mode: status answers and holds on real API traffic ---------------------------------------


async def test_storms_on_remove_are_retried_and_a_failed_call_changes_nothing(
        kube_testbed: Testbed, api_proxy: ApiProxy, tmp_path: Path) -> None:
    ns = kube_testbed.namespace("storm")
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    async with KubeClient.from_settings(settings(config, ns)) as target:
        await target.check_chaos_mesh(["PodChaos", "NetworkChaos"])
        await target.create(chaos(ns))
        await target.create(chaos(ns, name="loss-web-ab12cd", kind="NetworkChaos"))
        await target.create(chaos(ns, name="kill-web-other1", run_id="other1"))

        # An endless 503 storm on DELETE: bounded, clear, and nothing was deleted on the server.
        api_proxy.add("http-abort", "endless", code=503, method="DELETE", path_prefix=f"/apis/{CM}/")
        with pytest.raises(TargetError, match=r"kept failing \(HTTP 503.*gave up after 12 attempts"):
            await target.delete(chaos(ns))
        assert api_proxy.injected("http-abort") == 12
        assert sorted(o["metadata"]["name"] for o in chaos_items(kube_testbed, ns, "podchaos")) == [
            "kill-web-ab12cd", "kill-web-other1"]
        assert not any(o["metadata"].get("deletionTimestamp") for o in chaos_items(kube_testbed, ns, "podchaos"))
        api_proxy.proxy.remove_fault("endless")

        # 500s on half the DELETEs and 429s on half the reads: retried until the run is removed.
        api_proxy.add("http-abort", "deletes", code=500, percent=50, method="DELETE", path_prefix=f"/apis/{CM}/")
        api_proxy.add("http-abort", "reads", code=429, percent=50, method="GET", path_prefix=f"/apis/{CM}/")
        before = api_proxy.injected("http-abort")
        removed = await target.remove_run("ab12cd", [ns])
        assert sorted(removed) == [f"NetworkChaos {ns}/loss-web-ab12cd", f"PodChaos {ns}/kill-web-ab12cd"]
        storm = api_proxy.injected("http-abort") - before
        assert storm >= 1  # the storm did happen, and was retried
        assert api_proxy.answered(500) + api_proxy.answered(429) == storm
    assert [o["metadata"]["name"] for o in chaos_items(kube_testbed, ns, "podchaos")] == ["kill-web-other1"]
    assert chaos_items(kube_testbed, ns, "networkchaos") == []


async def test_create_and_shrink_through_storms(kube_testbed: Testbed, api_proxy: ApiProxy, tmp_path: Path) -> None:
    ns = kube_testbed.namespace("shrink")
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    obj = chaos(ns, name="loss-web-ab12cd", kind="NetworkChaos")
    async with KubeClient.from_settings(settings(config, ns)) as target:
        await target.check_chaos_mesh(["NetworkChaos"])
        # A 500 storm on every create: bounded, and no object was created.
        api_proxy.add("http-abort", "creates", code=500, method="POST", path_prefix=f"/apis/{CM}/")
        with pytest.raises(TargetError, match=r"create NetworkChaos .*kept failing \(HTTP 500"):
            await target.create(obj)
        assert chaos_items(kube_testbed, ns, "networkchaos") == []
        api_proxy.proxy.remove_fault("creates")
        # Half the creates answered 500: a retried create lands exactly once.
        api_proxy.add("http-abort", "creates", code=500, percent=50, method="POST", path_prefix=f"/apis/{CM}/")
        await target.create(obj)
        assert len(chaos_items(kube_testbed, ns, "networkchaos")) == 1
        # An endless 500 storm on PATCH: the shrink fails bounded and the spec is untouched.
        api_proxy.add("http-abort", "patches", code=500, method="PATCH", path_prefix=f"/apis/{CM}/")
        with pytest.raises(TargetError, match=r"patch NetworkChaos .*kept failing \(HTTP 500"):
            await target.patch_fault(obj, {"loss": {"loss": "10"}, "mode": "fixed", "value": "1"})
        stored = read(kube_testbed, obj)
        assert stored is not None and stored["spec"]["loss"]["loss"] == "50" and stored["spec"]["mode"] == "one"
        api_proxy.proxy.remove_fault("patches")
        # 429 on half the reads and 503 on half the patches: the shrink lands, the duration stays.
        api_proxy.add("http-abort", "reads", code=429, percent=75, method="GET", path_prefix=f"/apis/{CM}/")
        api_proxy.add("http-abort", "patches", code=503, percent=75, method="PATCH", path_prefix=f"/apis/{CM}/")
        patched = await target.patch_fault(obj, {"loss": {"loss": "10"}, "mode": "fixed", "value": "1"})
        assert patched["spec"]["loss"] == {"loss": "10", "correlation": "0"}
    stored = read(kube_testbed, obj)
    assert stored is not None
    assert (stored["spec"]["mode"], stored["spec"]["value"], stored["spec"]["duration"]) == ("fixed", "1", "2m")
    assert stored["metadata"]["annotations"]["aftershock.io/deadline"] == "2026-11-21T21:40:00Z"
    assert api_proxy.answered(429) + api_proxy.answered(503) >= 1  # the storm did happen, and was retried


async def test_a_throttling_answer_with_retry_after_is_honoured(kube_testbed: Testbed, api_proxy: ApiProxy,
                                                              tmp_path: Path) -> None:
    """429 with ``Retry-After: 1`` on every create for ~2.5 s: the client waits the second the server
    asks for instead of its own 10 ms backoff (which would send ~9 creates in that time), and the
    create lands once the throttling ends."""
    ns = kube_testbed.namespace("throttle")
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    obj = chaos(ns)
    async with KubeClient.from_settings(settings(config, ns, retry_max_wait=5)) as target:
        await target.check_chaos_mesh(["PodChaos"])
        api_proxy.add("http-abort", "throttle", ttl=2.5, code=429, retry_after_s=1, method="POST",
                      path_prefix=f"/apis/{CM}/")
        await target.create(obj)
    throttled = api_proxy.injected("http-abort")
    assert 1 <= throttled <= 4, f"{throttled} creates were throttled: Retry-After was not honoured"
    assert api_proxy.answered(429) == throttled
    assert [o["metadata"]["name"] for o in chaos_items(kube_testbed, ns, "podchaos")] == ["kill-web-ab12cd"]


async def test_degrade_through_conflicts_real_and_injected(kube_testbed: Testbed, api_proxy: ApiProxy,
                                                           tmp_path: Path) -> None:
    ns = kube_testbed.namespace("conflict")
    path = f"/api/v1/namespaces/{ns}/configmaps/flags"
    cm = kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                             "data": {"payment_channel": "primary", "retries": "3"}})
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    async with KubeClient.from_settings(settings(config, ns)) as target:
        # A real resourceVersion race: our PATCH is held at the proxy while someone else writes; the
        # real API server answers 409 to the stale write, and the degrade re-reads and lands.
        api_proxy.add("http-delay", "hold", delay_ms=1500, method="PATCH", path_prefix=path)
        patching = asyncio.ensure_future(target.apply_patch("ConfigMap", ns, "flags",
                                                            {"data": {"payment_channel": "backup"}}))
        while api_proxy.injected("http-delay") == 0:  # the proxy exposes no event for "held now"
            assert not patching.done(), patching
            await asyncio.sleep(0.01)
        api_proxy.proxy.remove_fault("hold")
        with kube_testbed.admin() as api:
            api.patch(path, json={"data": {"owner": "someone-else"}},
                      headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        token = await patching
        assert api_proxy.answered(409) == 1  # from the real API server
        assert (read(kube_testbed, cm) or {})["data"] == {"payment_channel": "backup", "retries": "3",
                                                          "owner": "someone-else"}

        # Injected 409s on every revert write: bounded, and the server keeps the degraded value.
        api_proxy.add("http-abort", "conflicts", code=409, method="PATCH", path_prefix=path)
        with pytest.raises(ActuatorError, match=r"resourceVersion conflict 3 times in a row.*revert by hand"):
            await target.revert(token)
        assert (read(kube_testbed, cm) or {})["data"]["payment_channel"] == "backup"
        api_proxy.proxy.remove_fault("conflicts")
        # One injected 409 on the next write (seeded 50%): the revert re-reads and restores exactly.
        api_proxy.add("http-abort", "conflicts", code=409, percent=50, method="PATCH", path_prefix=path)
        await target.revert(token)
    assert (read(kube_testbed, cm) or {})["data"] == {"payment_channel": "primary", "retries": "3",
                                                      "owner": "someone-else"}


async def test_circuit_break_through_conflicts_and_500s(kube_testbed: Testbed, api_proxy: ApiProxy,
                                                        tmp_path: Path) -> None:
    ns = kube_testbed.namespace("breaker")
    vs = kube_testbed.apply({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "payments", "namespace": ns},
        "spec": {"hosts": ["payments"], "http": [{"route": [{"destination": {"host": "payment-gateway"}},
                                                            {"destination": {"host": "payment-fallback"},
                                                             "weight": 20}]}]}})
    prefix = f"/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/payments"
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    async with KubeClient.from_settings(settings(config, ns)) as target:
        api_proxy.add("http-abort", "conflicts", code=409, method="PATCH", path_prefix=prefix)
        with pytest.raises(ActuatorError, match="resourceVersion conflict 3"):
            await target.set_backend_weight(ns, "payment-gateway", 0)
        assert (read(kube_testbed, vs) or {})["spec"] == vs["spec"]  # nothing changed
        api_proxy.proxy.remove_fault("conflicts")
        # Half the writes conflict: the breaker re-reads and opens; half the restores answer 500.
        api_proxy.add("http-abort", "conflicts", code=409, percent=50, method="PATCH", path_prefix=prefix)
        prior = await target.set_backend_weight(ns, "payment-gateway", 0)
        opened = read(kube_testbed, vs)
        assert opened is not None and [r.get("weight") for r in opened["spec"]["http"][0]["route"]] == [0, 20]
        api_proxy.proxy.remove_fault("conflicts")
        api_proxy.add("http-abort", "errors", code=500, percent=50, method="PATCH", path_prefix=prefix)
        await target.restore_weights(WeightSnapshot.from_dict(prior.as_dict()))
    assert (read(kube_testbed, vs) or {})["spec"] == vs["spec"]
    assert api_proxy.injected("http-abort") >= 4


async def test_a_silent_hold_fails_bounded_and_changes_nothing(kube_testbed: Testbed, api_proxy: ApiProxy,
                                                               black_hole: tuple[str, int], tmp_path: Path) -> None:
    ns = kube_testbed.namespace("hold")
    config = api_proxy.kubeconfig(tmp_path / "cfg")
    obj = chaos(ns)
    fast = settings(config, ns, request_timeout=0.5, retry_attempts=3, retry_total=5)
    held = settings(pointed_at(config, black_hole, tmp_path / "held"), ns, request_timeout=0.5, retry_attempts=3,
                    retry_total=5)
    async with KubeClient.from_settings(fast) as target:
        await target.create(obj)
        async with KubeClient.from_settings(held) as hanging:  # accepted, then never answered
            with pytest.raises(TargetError) as info:
                await hanging.delete(obj)
        assert "Traceback" not in str(info.value)
        assert f"PodChaos {ns}/kill-web-ab12cd" in str(info.value)
        # a held request never reached the server: the object is untouched
        stored = read(kube_testbed, obj)
        assert stored is not None and not stored["metadata"].get("deletionTimestamp")
        await target.delete(obj)
    assert read(kube_testbed, obj) is None


async def test_a_token_kubeconfig_passes_through_the_proxy_as_itself(kube_testbed: Testbed, api_proxy: ApiProxy,
                                                                     tmp_path: Path) -> None:
    """A bearer token is forwarded as a header: the real authorizer judges the ServiceAccount, not the
    proxy. (The proxy presents the admin certificate only for a client-certificate kubeconfig.)"""
    from kube import apiproxy

    ns = kube_testbed.namespace("token")
    sa_config = kube_testbed.service_account_kubeconfig(ns, "nobody", tmp_path / "sa.kubeconfig")
    async for proxy in apiproxy.start(kube_testbed, api_proxy.pki, client_cert=False):
        config = proxy.kubeconfig(tmp_path / "cfg", source=sa_config)
        async with KubeClient.from_settings(settings(config, ns, retry_attempts=2)) as target:
            with pytest.raises(TargetError, match="forbidden"):
                await target.create(chaos(ns))
    assert chaos_items(kube_testbed, ns, "podchaos") == []


# --- TCP mode: connection trouble, TLS passed through ----------------------------------------------


@pytest.fixture
async def tcp_proxy(kube_testbed: Testbed) -> AsyncIterator[FaultProxy]:
    api = urlsplit(kube_testbed.url)
    upstream = Upstream("kube-apiserver", str(api.hostname), int(api.port or 443))
    async with FaultProxy(("127.0.0.1", 0), [upstream], seed=13) as p:
        yield p


def through(bed: Testbed, proxy: FaultProxy, path: Path) -> Path:
    """The admin kubeconfig, pointed at the proxy (the API server's certificate names 127.0.0.1)."""
    config = yaml.safe_load(bed.kubeconfig.read_text())
    host, port = proxy.address
    config["clusters"][0]["cluster"]["server"] = f"https://{host}:{port}"
    path.write_text(yaml.safe_dump(config))
    return path


def fault(kind: str, **params: Any) -> ProxyFault:
    return ProxyFault.from_dict({"id": kind, "run_id": "api-faults", "kind": kind,
                                 "deadline": time.time() + 120, **params})


async def test_resets_are_retried_until_the_work_is_done(kube_testbed: Testbed, tcp_proxy: FaultProxy,
                                                         tmp_path: Path) -> None:
    ns = kube_testbed.namespace("faults")
    config = through(kube_testbed, tcp_proxy, tmp_path / "cfg")
    tcp_proxy.add_fault(fault("reset", percent=10))  # of connections and of each later chunk
    async with KubeClient.from_settings(settings(config, ns, retry_attempts=20, retry_max_wait=0.1)) as target:
        await target.check_chaos_mesh(["PodChaos"])
        await target.create(chaos(ns))
        assert len(await target.list_ours("ab12cd", [ns])) == 1
        assert await target.remove_run("ab12cd", [ns]) == [f"PodChaos {ns}/kill-web-ab12cd"]
    assert chaos_items(kube_testbed, ns, "podchaos") == []
    resets = tcp_proxy.metrics.registry.get_sample_value("aftershock_proxy_faults_injected_total", {"kind": "reset"})
    assert resets and resets >= 1  # the resets did happen, and were retried


@pytest.mark.parametrize("kind", ["partition", "hold"])
async def test_an_unreachable_api_server_fails_bounded_and_clearly(kube_testbed: Testbed, tcp_proxy: FaultProxy,
                                                                   black_hole: tuple[str, int], tmp_path: Path,
                                                                   kind: str) -> None:
    if kind == "partition":  # connections refused
        config = through(kube_testbed, tcp_proxy, tmp_path / "cfg")
        tcp_proxy.add_fault(fault(kind))
    else:  # accepted, then never answered
        config = pointed_at(kube_testbed.kubeconfig, black_hole, tmp_path / "cfg")
    fast = settings(config, "default", request_timeout=0.5, retry_attempts=3, retry_total=5)
    async with KubeClient.from_settings(fast) as target:
        with pytest.raises(TargetError) as info:
            await target.check_chaos_mesh(["PodChaos"])
    assert "Traceback" not in str(info.value)
    assert "discover chaos-mesh.org/v1alpha1" in str(info.value)
