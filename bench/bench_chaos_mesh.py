"""Real Chaos Mesh on the test node: how long from Aftershock creating a chaos object to Chaos Mesh
reporting it injected, and from the delete to Chaos Mesh releasing it (recovered, object gone).

Brings up ``scripts/kube-testbed up DIR --node`` (root; built by ``scripts/setup.sh``), one pod of
the aftershock image, then per round: a NetworkChaos bandwidth fault (tc tbf in the pod's netns,
applied by chaos-daemon) through ``KubeClient.create`` + ``wait_injected``, then ``delete``
(which waits for Chaos Mesh's ``chaos-mesh/records`` finalizer to go). A script, not a test:

    .venv/bin/python bench/bench_chaos_mesh.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from chaos.clients.kube import KubeClient, KubeSettings  # noqa: E402

SCRIPT = REPO / "scripts" / "kube-testbed"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def rounds(kubeconfig: Path, ns: str, n: int) -> tuple[list[float], list[float]]:
    injected, recovered = [], []
    settings = KubeSettings(kubeconfig=str(kubeconfig), namespace=ns, reaper=False, poll_interval=0.05)
    async with KubeClient.from_settings(settings) as target:
        for i in range(n):
            obj = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
                   "metadata": {"name": f"bw-{i}", "namespace": ns,
                                "labels": {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/run-id": "bench1"}},
                   "spec": {"action": "bandwidth", "mode": "all", "duration": "5m", "direction": "to",
                            "selector": {"namespaces": [ns], "labelSelectors": {"app": "bench"}},
                            "bandwidth": {"rate": "1mbps", "limit": 20971520, "buffer": 10000}}}
            t0 = time.perf_counter()
            await target.create(obj)
            await target.wait_injected(obj, timeout=120)
            t1 = time.perf_counter()
            report = await target.delete(obj)
            t2 = time.perf_counter()
            assert report.gone
            injected.append(t1 - t0)
            recovered.append(t2 - t1)
            print(f"round {i + 1}: injected {t1 - t0:.2f}s, recovered {t2 - t1:.2f}s", flush=True)
    return injected, recovered


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="aftershock-bench-node-"))
    up = subprocess.run([sys.executable, str(SCRIPT), "up", str(workdir), "--no-build", "--node"],
                        capture_output=True, text=True)
    if up.returncode != 0:
        sys.exit(up.stderr[-3000:])
    state = json.loads(up.stdout)
    try:
        tls = ssl.create_default_context(cafile=str(workdir / "pki" / "ca.crt"))
        tls.load_cert_chain(str(workdir / "pki" / "admin.crt"), str(workdir / "pki" / "admin.key"))
        with httpx.Client(base_url=state["url"], verify=tls, timeout=30) as api:
            ns = "bench"
            api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": ns}}).raise_for_status()
            deadline = time.monotonic() + 60
            while api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status_code != 200:
                if time.monotonic() > deadline:
                    sys.exit("no default ServiceAccount")
                time.sleep(0.2)
            api.post(f"/api/v1/namespaces/{ns}/pods", json={
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench", "labels": {"app": "bench"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "c", "image": "localhost/aftershock:dev", "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"]}]}}).raise_for_status()
            deadline = time.monotonic() + 180
            while not any(c.get("type") == "Ready" and c.get("status") == "True" for c in
                          (api.get(f"/api/v1/namespaces/{ns}/pods/bench").json().get("status") or {})
                          .get("conditions") or []):
                if time.monotonic() > deadline:
                    sys.exit("bench pod not Ready")
                time.sleep(0.2)
        injected, recovered = asyncio.run(rounds(workdir / "admin.kubeconfig", ns, args.rounds))
        print(f"created -> injected over {len(injected)} runs: p50 {pct(injected, 50):.2f}s p90 {pct(injected, 90):.2f}s")
        print(f"delete -> recovered over {len(recovered)} runs: p50 {pct(recovered, 50):.2f}s p90 {pct(recovered, 90):.2f}s")
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "down", str(workdir)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
