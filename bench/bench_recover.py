"""``aftershock recover`` of 100 leftover faults: how long does the clean-up after many killed runs take?

    .venv/bin/python bench/bench_recover.py [--runs 100] [--parallel 4] [--kernel]
    .venv/bin/python bench/bench_recover.py --kubeconfig DIR/admin.kubeconfig [--chaos-mesh-alone]

Makes ``--runs`` leftovers the way they happen: each is a real ``aftershock run`` (the installed
console script, one shared state dir) SIGKILLed once its fault is injected, so its write-ahead record
is live, its fault is in place and its run is dead:

- host (default): a 10-minute delay through the demo's fault proxy (``DemoStack``), one per run;
- ``--kernel`` (root): an iptables partition inside a network namespace made here, one rule per run,
  each with its detached watchdog still waiting for the deadline (``recover`` disarms them).

``--kubeconfig FILE --namespace NS`` (a cluster with Chaos Mesh, e.g. ``scripts/kube-testbed up DIR
--node``): ``--runs`` Chaos Mesh objects of ours (PodChaos ``pod-failure`` selecting no pod, so the
cluster's pods are left alone; Chaos Mesh still admits them, adds its finalizer and releases it on
delete), each created by Aftershock's client and recorded as a run's ``injected`` fault through the
store and codec the Kubernetes target writes (``realisation_to_record``), one run id each, none alive.

Then times one ``aftershock recover`` over all of them (wall and CPU seconds of the process, with the
machine's load average; Kubernetes: once Chaos Mesh has taken every object in, and with
``--chaos-mesh-alone`` the peer instead: the same objects deleted straight through the API, timed
until Chaos Mesh has let the last one go, ``recover`` then only clearing the records) and audits: no fault of ours left in the proxy / in the namespace, no live
record in the store. Goal: under 2 s for 100 (docs/benchmarks.md). A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from e2e.helpers import AFTERSHOCK, Cli  # noqa: E402  (the e2e tests' CLI harness)
from harness.experiments import DEMO_PROXY, delay, host_experiment, netns_port, partition, slo  # noqa: E402


def proxy_experiment() -> str:
    return host_experiment("recover-bench-proxy", [delay("slow", DEMO_PROXY, "10m", latency="5ms")],
                           slos=[slo("up", "vector(0)", "<", 1)], steadyState=["up"],
                           monitor={"prometheus": "{{ env.AFTERSHOCK_PROMETHEUS_URL }}", "interval": "1s"})


def kernel_experiment(netns: str) -> str:
    return host_experiment("recover-bench-kernel", [partition("cut", netns_port(8443, netns), "10m")])


async def inject(path: Path, state: Path, run_id: str, env: dict[str, str]) -> Cli:
    """One run, started and left running once its fault is injected."""
    cli = await Cli.start("run", str(path), "--run-id", run_id, "--state-dir", str(state), "--output", "json",
                          "--yes", env=env)
    try:
        await cli.event("FaultInjected", timeout=300)
    except BaseException:
        await cli.kill()
        raise
    return cli


async def leave(n: int, parallel: int, path: Path, state: Path, env: dict[str, str], prefix: str) -> dict[str, Any]:
    """``n`` runs alive at once, each with its fault injected (``parallel`` starting at a time), then
    all SIGKILLed: a run that starts recovers what dead runs of its state dir left, so leftovers pile
    up only when the runs die together (a crashed machine or CI runner, an OOM kill of the group)."""
    started = time.monotonic()
    gate = asyncio.Semaphore(parallel)
    clis: list[Cli] = []

    async def one(i: int) -> None:
        async with gate:
            clis.append(await inject(path, state, f"{prefix}{i:04d}", env))

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
        rss = sum(_rss_kib(c.proc.pid) for c in clis)
    finally:
        for cli in clis:
            with contextlib.suppress(ProcessLookupError):
                cli.proc.send_signal(signal.SIGKILL)
        for cli in clis:
            await cli.kill()
    return {"seconds": round(time.monotonic() - started, 1), "rss_of_the_live_runs_mib": rss // 1024}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def live_records(state: Path) -> int:
    from chaos.clients.state import StateStore

    store = StateStore(state)
    try:
        return len(store.faults(live_only=True))
    finally:
        store.close()


async def timed_recover(state: Path, env: dict[str, str]) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(str(AFTERSHOCK), "recover", "--state-dir", str(state),
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    removed = out.decode().count("✓ ")
    return {"rc": proc.returncode, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "removed": removed,
            "load": [round(x, 2) for x in os.getloadavg()], "stderr": err.decode()[-500:]}


async def bench_proxy(n: int, parallel: int, workdir: Path) -> dict[str, Any]:
    from chaos.clients.host.admin_client import ProxyAdminClient
    from chaos.demo.prometheus import PrometheusServer
    from chaos.demo.stack import DemoStack

    path = workdir / "proxy.yaml"
    path.write_text(proxy_experiment())
    state = workdir / "state-proxy"
    async with DemoStack(start_load=False) as stack, PrometheusServer(scrape_interval="1s") as prom:
        env = {**os.environ, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
               "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url, "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token,
               "AFTERSHOCK_PROMETHEUS_URL": prom.url}
        made = await leave(n, parallel, path, state, env, "rbp")
        async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
            in_proxy = len(await admin.list_faults())
        records = live_records(state)
        result = await timed_recover(state, env)
        async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
            left = len(await admin.list_faults())
    return {"target": "proxy", "runs": n, "left_by_kill_9": {"proxy_faults": in_proxy, "live_records": records},
            "made": made, "recover": result,
            "after": {"proxy_faults": left, "live_records": live_records(state)}}


async def bench_kernel(n: int, parallel: int, workdir: Path) -> dict[str, Any]:
    from chaos.clients.host.commands import Runner
    from chaos.clients.host.iptables import IptablesFaults
    from chaos.clients.host.netns import temporary_netns

    state = workdir / "state-kernel"
    with temporary_netns("recbench", veth=True) as inside:
        assert inside.netns is not None
        path = workdir / "kernel.yaml"
        path.write_text(kernel_experiment(inside.netns))
        ipt = IptablesFaults(workdir / "none", Runner(netns=inside.netns))
        made = await leave(n, parallel, path, state, dict(os.environ), "rbk")
        rules = len(ipt.list_rules())
        records = live_records(state)
        result = await timed_recover(state, dict(os.environ))
        left = len(ipt.list_rules())
    return {"target": "kernel", "runs": n, "left_by_kill_9": {"rules": rules, "live_records": records},
            "made": made, "recover": result, "after": {"rules": left, "live_records": live_records(state)}}


def chaos_mesh_alone(kubeconfig: str, namespace: str) -> dict[str, Any]:
    """The peer: Chaos Mesh's own pace for the same objects, without Aftershock. All deleted at once
    straight through the API (16 at a time), timed until the last one is gone (a watch from before
    the first delete)."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client, config, watch

    custom = client.CustomObjectsApi(config.new_client_from_config(kubeconfig))
    where = ("chaos-mesh.org", "v1alpha1", namespace, "podchaos")
    selector = "app.kubernetes.io/managed-by=aftershock"
    listing = custom.list_namespaced_custom_object(*where, label_selector=selector)
    names = [o["metadata"]["name"] for o in listing["items"] if o["metadata"]["name"].startswith("recover-bench-")]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: custom.delete_namespaced_custom_object(*where, name), names))
    issued = time.perf_counter() - t0
    gone = 0
    for event in watch.Watch().stream(custom.list_namespaced_custom_object, *where, label_selector=selector,
                                      resource_version=listing["metadata"]["resourceVersion"], timeout_seconds=300):
        if event["type"] == "DELETED" and event["object"]["metadata"]["name"].startswith("recover-bench-"):
            gone += 1
            if gone == len(names):
                break
    return {"objects": len(names), "gone": gone, "deletes_issued_s": round(issued, 3),
            "all_gone_s": round(time.perf_counter() - t0, 3), "load": [round(x, 2) for x in os.getloadavg()]}


async def bench_kubernetes(n: int, workdir: Path, kubeconfig: str, namespace: str,
                           alone: bool = False) -> dict[str, Any]:
    from chaos.clients.kube import KubeClient, KubeSettings
    from chaos.clients.state import StateStore
    from chaos.targets.realisations import KubeRealisation, realisation_to_record

    state = workdir / "state-kube"
    store = StateStore(state)
    settings = KubeSettings(kubeconfig=kubeconfig, namespace=namespace, reaper=False)
    started = time.monotonic()
    async with KubeClient.from_settings(settings) as client:
        for i in range(n):
            run_id = f"rbk8s{i:04d}"
            obj = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
                   "metadata": {"name": f"recover-bench-{i:04d}", "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": run_id}},
                   "spec": {"action": "pod-failure", "mode": "one", "duration": "10m",
                            "selector": {"namespaces": [namespace], "labelSelectors": {"app": "recover-bench-nobody"}}}}
            record = realisation_to_record(KubeRealisation(
                object=obj, description=f"PodChaos {namespace}/{obj['metadata']['name']}",
                kube={"kubeconfig": kubeconfig, "context": None, "namespace": namespace}))
            store.record_fault(run_id, "fail", "pod-failure", record, time.time() + 600)
            await client.create(obj)
            store.update_fault(run_id, "fail", "injected", record)
        made = round(time.monotonic() - started, 1)
        # A leftover of a killed run is an object Chaos Mesh has long taken in: wait until it has
        # (its finalizer, desiredPhase Run, its conditions), so the timing is the removal's alone,
        # not Chaos Mesh's backlog of creations (one reconcile worker per kind)
        while True:
            ours = [o for o in await client.list_ours() if o["metadata"]["name"].startswith("recover-bench-")]
            if sum(1 for o in ours if "chaos-mesh/records" in (o["metadata"].get("finalizers") or [])
                   and ((o.get("status") or {}).get("experiment") or {}).get("desiredPhase") == "Run"
                   and (o.get("status") or {}).get("conditions")) == n:
                break
            await asyncio.sleep(0.2)  # Chaos Mesh's status: polled, nothing to await here
    store.close()
    settled = round(time.monotonic() - started, 1)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    peer = await asyncio.to_thread(chaos_mesh_alone, kubeconfig, namespace) if alone else None
    result = await timed_recover(state, env)  # after the peer: the records are cleared, the objects gone
    async with KubeClient.from_settings(settings) as client:
        left = [o for o in await client.list_ours() if o.get("kind") == "PodChaos"
                and o["metadata"]["name"].startswith("recover-bench-")]
    return {"target": "kubernetes", "objects": n, "made": {"seconds": made, "settled_in_chaos_mesh_s": settled},
            **({"chaos_mesh_alone": peer} if peer else {}), "recover": result,
            "after": {"objects": len(left), "live_records": live_records(state)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=4, help="runs started at once while making the leftovers")
    parser.add_argument("--kernel", action="store_true", help="iptables rules in a namespace (root) instead")
    parser.add_argument("--kubeconfig", help="Chaos Mesh objects on this cluster instead")
    parser.add_argument("--namespace", default="default", help="with --kubeconfig: where the objects go")
    parser.add_argument("--chaos-mesh-alone", action="store_true",
                        help="with --kubeconfig: time Chaos Mesh deleting the objects without Aftershock instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aftershock-recover-bench-") as tmp:
        if args.kubeconfig:
            result = asyncio.run(bench_kubernetes(args.runs, Path(tmp), args.kubeconfig, args.namespace,
                                                  args.chaos_mesh_alone))
        else:
            bench = bench_kernel if args.kernel else bench_proxy
            result = asyncio.run(bench(args.runs, args.parallel, Path(tmp)))
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
