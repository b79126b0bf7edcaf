"""The extension's actions through chaoslib (``run_activity``, as ``chaos run`` calls them) on the host
target, in a separate process like a ``chaos run``: a fault is recorded before it is injected,
bounded, labelled with the run id, removed by ``remove_faults``, by the process's own exit, or —
after a SIGKILL — by ``aftershock recover``; nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.experiments import delay, host_experiment, owned_proxy

from chaos.clients.state import StateStore
from chaos.demo.prometheus import free_port
from chaos.loading import load_text

BIN = Path(sys.executable).parent
SCRIPT = """
import json, sys
from chaoslib.activity import run_activity
from chaoslib.exceptions import ActivityFailed

config = json.loads(sys.argv[1])
def call(module, func, **arguments):
    activity = {"type": "action", "name": func,
                "provider": {"type": "python", "module": module, "func": func, "arguments": arguments}}
    try:
        return {"ok": run_activity(activity, config, {})}
    except ActivityFailed as exc:
        return {"error": str(exc)}
print(json.dumps(call("chaos.interop.ctk_actions", "inject_fault", experiment="${aftershock_experiment}",
                      fault="slow", run_id="${aftershock_run_id}", state_dir="${aftershock_state_dir}")), flush=True)
for line in sys.stdin:
    if line.strip() == "remove":
        print(json.dumps(call("chaos.interop.ctk_actions", "remove_faults", run_id="${aftershock_run_id}",
                              state_dir="${aftershock_state_dir}")), flush=True)
    if line.strip() == "exit":
        break
"""


def _experiment(listen: str, duration: str = "60s") -> dict[str, Any]:
    port = int(listen.rsplit(":", 1)[1])
    text = host_experiment("ctk-extension", [delay("slow", owned_proxy(port), duration, latency="200ms")])
    return load_text(text, "ctk-extension.yaml").experiment.model_dump(mode="json", by_alias=True)


class Chaos:
    """A process standing in for ``chaos run``: it injects through chaoslib, then obeys stdin."""

    def __init__(self, tmp: Path, experiment: dict[str, Any], run_id: str) -> None:
        script = tmp / "ctk_process.py"
        script.write_text(SCRIPT)
        self.state = tmp / "state"
        config = {"aftershock_experiment": experiment, "aftershock_run_id": run_id,
                  "aftershock_state_dir": str(self.state)}
        self.proc = subprocess.Popen([sys.executable, str(script), json.dumps(config)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read() if self.proc.stderr else ""
        result: dict[str, Any] = json.loads(line)
        return result

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[list[Chaos]]:
    started: list[Chaos] = []
    yield started
    for c in started:
        c.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)  # polling /proc: a process of another parent offers nothing to wait on
    return False


def _injected(c: Chaos, run_id: str) -> tuple[StateStore, int]:
    out = c.read()
    assert "ok" in out, out
    assert out["ok"]["run_id"] == run_id and out["ok"]["fault"] == "slow"
    store = StateStore(c.state)
    (row,) = store.faults(run_id)
    assert row.state == "injected" and row.realisation["kind"] == "proxy"
    assert row.realisation["proxy_fault"]["run_id"] == run_id  # labelled as ours
    assert row.realisation["proxy_fault"]["deadline"] == pytest.approx(row.deadline)  # bounded by the proxy
    assert row.recorded <= row.deadline <= row.recorded + 61
    run = store.run(run_id)
    assert run is not None and run.alive and run.source == "chaostoolkit"
    pid = int(row.realisation["proxy"]["pid"])
    assert _alive(pid)
    return store, pid


def test_remove_faults_through_chaoslib(tmp_path: Path, chaos: list[Chaos]) -> None:
    c = Chaos(tmp_path, _experiment(f"127.0.0.1:{free_port()}"), "ctkrm01")
    chaos.append(c)
    store, pid = _injected(c, "ctkrm01")
    c.send("remove")
    out = c.read()
    assert out["ok"]["removed"] == ["slow"] and out["ok"]["failed"] == {}
    assert store.faults("ctkrm01")[0].state == "removed"
    assert _wait_gone(pid), "the run-owned fault proxy is still running"
    c.send("remove")  # idempotent
    assert c.read()["ok"]["removed"] == []
    c.send("exit")
    assert c.proc.wait(30) == 0


def test_the_process_exit_removes_what_it_still_holds(tmp_path: Path, chaos: list[Chaos]) -> None:
    c = Chaos(tmp_path, _experiment(f"127.0.0.1:{free_port()}"), "ctkexit1")
    chaos.append(c)
    store, pid = _injected(c, "ctkexit1")
    c.send("exit")
    assert c.proc.wait(30) == 0
    assert store.faults("ctkexit1")[0].state == "removed"
    assert _wait_gone(pid)


def test_after_sigkill_aftershock_recover_removes_the_fault(tmp_path: Path, chaos: list[Chaos]) -> None:
    c = Chaos(tmp_path, _experiment(f"127.0.0.1:{free_port()}"), "ctkkill1")
    chaos.append(c)
    store, pid = _injected(c, "ctkkill1")
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(30)
    assert store.faults("ctkkill1")[0].state == "injected"  # nobody removed it: the record is what is left
    done = subprocess.run([str(BIN / "aftershock"), "recover", "--state-dir", str(c.state)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "ctkkill1/slow" in done.stdout
    assert store.faults("ctkkill1")[0].state == "removed"
    assert _wait_gone(pid), "the proxy of the killed run is still running"


def test_a_failed_injection_was_recorded_first(tmp_path: Path, chaos: list[Chaos]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        c = Chaos(tmp_path, _experiment(f"127.0.0.1:{port}"), "ctkfail1")
        chaos.append(c)
        out = c.read()
        assert "error" in out and "fault proxy" in out["error"], out
        (row,) = StateStore(c.state).faults("ctkfail1")
        assert row.state == "failed"  # the write-ahead record existed before the injection was tried
        c.send("exit")
        assert c.proc.wait(30) == 0
    assert os.path.isdir(c.state)
