"""The testbed with a node (``scripts/kube-testbed up DIR --node``): the real control plane plus one
node that runs real containers (containerd + runc, CNI bridge, kubelet, kube-scheduler, kube-proxy),
the images ``localhost/aftershock:dev`` and ``localhost/aftershock-demo:dev`` imported, and a default
StorageClass whose PVCs bind. Brought up once per pytest session (one node per machine) and taken
down at the end; ``down`` fails when it could not remove a mount, bridge, netns or iptables chain.
The build (``scripts/setup.sh``: ``kube-testbed build --node``, ``node-images build``) happens before
the tests, so no test waits for a compiler.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from k8s_run.conftest import metrics  # noqa: F401  (one real Prometheus per session, a gauge per test)
from kube.testbed import SCRIPT, Testbed

NODE_TIMEOUT = 600


@pytest.fixture(scope="session")
def node_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    workdir = tmp_path_factory.mktemp("kube-node")
    proc = subprocess.run([sys.executable, str(SCRIPT), "up", str(workdir), "--no-build", "--node"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/kube-testbed up --node failed:\n{proc.stderr[-4000:]}")
    sys.stderr.write(proc.stderr)
    state = json.loads(proc.stdout)
    try:
        yield Testbed(url=state["url"], workdir=Path(state["workdir"]), kubeconfig=Path(state["kubeconfig"]),
                      oracle=Path(state["oracle"]), timings=state["timings"])
    finally:
        down = subprocess.run([sys.executable, str(SCRIPT), "down", str(workdir)], capture_output=True, text=True)
        assert down.returncode == 0, f"kube-testbed down left something behind:\n{down.stderr[-3000:]}"


def wait_for(api: httpx.Client, path: str, ready: Any, what: str, timeout: float = 120) -> dict[str, Any]:
    """GET ``path`` until ``ready(object)`` is true (the API's watch would do; a poll keeps it short)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = api.get(path)
        if reply.status_code == 200:
            last = reply.json()
            if ready(last):
                return last
        time.sleep(0.25)  # the kubelet's status updates reach us through the API only
    raise AssertionError(f"{what} not reached within {timeout}s; last seen: {json.dumps(last)[-2000:]}")


def pod_phase(phases: tuple[str, ...]) -> Any:
    return lambda pod: (pod.get("status") or {}).get("phase") in phases


def pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
