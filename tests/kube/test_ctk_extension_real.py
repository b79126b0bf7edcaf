"""The Chaos Toolkit extension's actions on the Kubernetes target against the real control plane
(:mod:`kube.testbed`: kube-apiserver + etcd + controller-manager with the real Chaos Mesh CRDs).

The Chaos Mesh controller's bookkeeping (finalizer, ``AllInjected`` status) is played through the
real API by :class:`kube.standin.ChaosMeshStandIn`. Checked here: the fault is in the state store
before its NetworkChaos exists (a real watch reads the store when the object appears), the object
carries our labels and a bounded ``spec.duration``, ``remove_faults`` deletes it (and the reaper),
and after the injecting process is SIGKILLed the real ``aftershock recover`` removes it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from k8s_run.conftest import CLI, experiment, in_namespace

from chaos.clients.state import StateStore
from chaos.interop.ctk_actions import inject_fault, remove_faults
from kube.realshop import Watch, items, shop_namespace
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

CHAOS = "/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/networkchaos"
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"
RUN_OBJECTS = "aftershock.io/run-id"
"""A run's own objects (the namespace's reaper and its sweep Jobs carry no run id)."""

# A process standing in for ``chaos run``: it injects through chaoslib's run_activity, reports, then
# waits on stdin (the test SIGKILLs it, so no exit handler runs).
SCRIPT = """
import json, sys
from chaoslib.activity import run_activity
from chaoslib.exceptions import ActivityFailed

config = json.loads(sys.argv[1])
activity = {"type": "action", "name": "inject_fault", "provider": {
    "type": "python", "module": "chaos.interop.ctk_actions", "func": "inject_fault",
    "arguments": {"experiment": "${aftershock_experiment}", "fault": "payment-delay",
                  "run_id": "${aftershock_run_id}", "state_dir": "${aftershock_state_dir}",
                  "settings": {"kubeconfig": "${aftershock_kubeconfig}"}}}}
try:
    print(json.dumps({"ok": run_activity(activity, config, {})}), flush=True)
except ActivityFailed as exc:
    print(json.dumps({"error": str(exc)}), flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def ns(kube_testbed: Testbed) -> str:
    return shop_namespace(kube_testbed, "ctk")


def doc_in(ns: str, name: str, duration: str) -> dict[str, Any]:
    return in_namespace(experiment(name, "unused", duration=duration), ns)


class StoreAtCreation(Watch):
    """Watches the namespace's NetworkChaos objects; when one is ADDED, reads the state store's
    fault rows at that moment (the write-ahead record must already be there)."""

    def __init__(self, bed: Testbed, ns: str, state: Path) -> None:
        super().__init__(bed, CHAOS.format(ns=ns))
        self.state = state
        self.seen: list[tuple[str, list[tuple[str, str, str]]]] = []

    def event(self, api: httpx.Client, kind: str, obj: dict[str, Any]) -> None:
        if kind == "ADDED":
            self.seen.append((obj["metadata"]["name"], self._rows()))

    def _rows(self) -> list[tuple[str, str, str]]:
        if not (self.state / "state.db").exists():
            return []
        store = StateStore(self.state)
        try:
            return [(r.fault, r.state, str(r.realisation["object"]["metadata"]["name"]))
                    for r in store.faults()]
        finally:
            store.close()


async def test_inject_is_recorded_first_bounded_labelled_and_removed(kube_testbed: Testbed, ns: str,
                                                                     standin: ChaosMeshStandIn,
                                                                     tmp_path: Path) -> None:
    run_id = "ctkreal01"
    state = tmp_path / "state"
    doc = doc_in(ns, "ctk-real", "30s")
    with StoreAtCreation(kube_testbed, ns, state) as watch:
        out = await asyncio.to_thread(inject_fault, doc, "payment-delay", run_id, str(state),
                                      {"kubeconfig": str(kube_testbed.kubeconfig)})
        assert out["run_id"] == run_id and out["type"] == "network-delay"
        (obj,) = items(kube_testbed, CHAOS.format(ns=ns))
    name = obj["metadata"]["name"]
    # the watch saw the object appear, and at that moment the store already held its record
    (seen_name, rows), *_ = watch.seen
    assert seen_name == name
    assert [(f, n) for f, _, n in rows] == [("payment-delay", name)], rows

    labels = obj["metadata"]["labels"]
    assert labels["aftershock.io/run-id"] == run_id
    assert labels["app.kubernetes.io/managed-by"] == "aftershock"
    assert obj["spec"]["duration"] == "30s"  # bounded by Chaos Mesh itself
    assert obj["status"]["conditions"]  # the stand-in reported it injected: the call waited for that
    store = StateStore(state)
    (row,) = store.faults(run_id)
    assert row.state == "injected" and row.realisation["kind"] == "kubernetes"
    # a killed chaos run's fault is the namespace reaper's to remove; the run itself created no Job
    assert items(kube_testbed, f"/apis/batch/v1/namespaces/{ns}/cronjobs"), "no reaper armed"
    assert items(kube_testbed, JOBS.format(ns=ns), RUN_OBJECTS) == []

    result = await asyncio.to_thread(remove_faults, run_id, str(state))
    assert result == {"run_id": run_id, "removed": ["payment-delay"], "failed": {}}
    assert store.faults(run_id)[0].state == "removed"
    assert items(kube_testbed, CHAOS.format(ns=ns)) == []  # the finalizer was honoured: really gone
    assert items(kube_testbed, JOBS.format(ns=ns), RUN_OBJECTS) == []
    again = await asyncio.to_thread(remove_faults, run_id, str(state))
    assert again["removed"] == [] and again["failed"] == {}
    store.close()
    assert not standin.errors


async def test_killed_chaos_process_then_aftershock_recover_removes_it(kube_testbed: Testbed, ns: str,
                                                                       standin: ChaosMeshStandIn,
                                                                       tmp_path: Path) -> None:
    run_id = "ctkreal02"
    state = tmp_path / "state"
    script = tmp_path / "ctk_process.py"
    script.write_text(SCRIPT)
    config = {"aftershock_experiment": doc_in(ns, "ctk-real-kill", "5m"), "aftershock_run_id": run_id,
              "aftershock_state_dir": str(state), "aftershock_kubeconfig": str(kube_testbed.kubeconfig)}
    errors = tmp_path / "ctk_process.stderr"
    with errors.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(script), json.dumps(config)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
        assert json.loads(line or "{}").get("ok", {}).get("fault") == "payment-delay", \
            line + errors.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGKILL)  # no atexit cleanup: the chaos process is gone mid-run
        proc.wait(30)
    (obj,) = items(kube_testbed, CHAOS.format(ns=ns))
    assert obj["metadata"]["labels"]["aftershock.io/run-id"] == run_id
    assert obj["spec"]["duration"] == "5m"
    store = StateStore(state)
    (row,) = store.faults(run_id, live_only=True)
    assert row.state == "injected"
    store.close()

    # no KUBECONFIG and no --kubeconfig: recover finds the cluster from the fault's record alone
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "AFTERSHOCK_STATE_DIR")}
    recover = await asyncio.create_subprocess_exec(
        str(CLI), "recover", "--state-dir", str(state), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, env=env)
    stdout, stderr = await asyncio.wait_for(recover.communicate(), 120)
    assert recover.returncode == 0, stdout.decode() + stderr.decode()
    assert items(kube_testbed, CHAOS.format(ns=ns)) == []
    assert items(kube_testbed, JOBS.format(ns=ns), RUN_OBJECTS) == []
    store = StateStore(state)
    assert [r.state for r in store.faults(run_id)] == ["removed"]
    store.close()
    again = await asyncio.create_subprocess_exec(str(CLI), "recover", "--state-dir", str(state), env=env,
                                                 stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(again.communicate(), 120)
    assert again.returncode == 0 and "nothing to recover" in out.decode()
    assert not standin.errors
