"""The ``chaostoolkit`` fault kind end to end: a CTK process action as the inject, its CTK rollback as
the removal, under Aftershock's policies (breach → rollback of the CTK action), recorded write-ahead,
rolled back at the deadline by the detached watchdog and by ``aftershock recover`` after SIGKILL.
Real Prometheus, real processes, chaoslib running the providers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.experiments import host_experiment, slo

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.engine.driver import Engine, EngineSettings
from chaos.interop.ctk_fault import fault_dir
from chaos.loading import load_text

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


def _flag_fault(flag: Path, duration: str, **extra: Any) -> dict[str, Any]:
    return {"name": "flag", "type": "chaostoolkit", "duration": duration,
            "action": {"type": "action", "name": "raise-flag",
                       "provider": {"type": "process", "path": "touch", "arguments": str(flag)}},
            "rollback": {"type": "action", "name": "lower-flag",
                         "provider": {"type": "process", "path": "rm", "arguments": ["-f", str(flag)]}},
            **extra}


def _until(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Wait for a change another process makes (a file appearing or going)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_a_breach_rolls_the_ctk_action_back(prom: PrometheusServer, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    text = host_experiment("ctk-breach", [_flag_fault(flag, "60s")],
                           slos=[slo("breached", "vector(1)", "<", 0.5)],
                           policies=[{"name": "back", "when": {"slo": "breached"}, "action": "rollback"}],
                           monitor={"prometheus": prom.url, "interval": "250ms"})
    engine = Engine(EngineSettings(state_dir=tmp_path / "state"))
    finished = await engine.run(load_text(text, "ctk-breach.yaml"))
    assert finished.verdict == "deviated", finished.reason
    assert not flag.exists()  # the CTK rollback ran (through chaoslib's process provider)
    directory = fault_dir(tmp_path / "state", finished.run_id, "flag")
    assert (directory / "ended").exists()
    pid = int((directory / "watchdog.pid").read_text())
    assert _until(lambda: not _alive(pid), 10)  # the removal stopped the deadline's watchdog
    journal = engine.journal(finished.run_id)
    assert any(d.get("action") == "rollback" for d in journal["aftershock"]["decisions"]), journal["aftershock"]
    store = StateStore(tmp_path / "state")
    try:
        assert store.faults(finished.run_id, live_only=True) == []
    finally:
        store.close()


async def test_a_chaostoolkit_probe_breached_by_the_ctk_action_rolls_it_back(tmp_path: Path) -> None:
    """The action raises a flag, a CTK process probe (holds while there is no flag) breaches, the rollback
    policy runs the CTK rollback: Chaos Toolkit's drivers inside Aftershock's loop."""
    flag = tmp_path / "flag"
    probe = {"type": "probe", "name": "no-flag", "tolerance": 0,
             "provider": {"type": "process", "path": "test", "arguments": ["!", "-e", str(flag)]}}
    text = host_experiment("ctk-probe-breach", [_flag_fault(flag, "60s")],
                           slos=[{"name": "no-flag", "probe": {"chaostoolkit": {"activity": probe},
                                                                "interval": "250ms"}}],
                           steadyState=["no-flag"],
                           policies=[{"name": "back", "when": {"slo": "no-flag"}, "action": "rollback"}],
                           monitor={"interval": "250ms"})
    engine = Engine(EngineSettings(state_dir=tmp_path / "state"))
    finished = await engine.run(load_text(text, "ctk-probe-breach.yaml"))
    assert finished.verdict == "deviated", finished.reason  # held before, breached by the action, held after
    assert not flag.exists()
    journal = engine.journal(finished.run_id)
    assert any(d.get("action") == "rollback" for d in journal["aftershock"]["decisions"]), journal["aftershock"]


async def test_chaosprometheus_as_an_slo_against_a_real_prometheus_rolls_back(prom: PrometheusServer,
                                                                             tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    probe = {"type": "probe", "name": "errors", "tolerance": {"type": "jsonpath", "path": "$.data.result[0].value[1]",
                                                              "expect": "0"},
             "provider": {"type": "python", "module": "chaosprometheus.probes", "func": "query",
                          "arguments": {"query": "vector(3)"}}}
    text = host_experiment("ctk-prom-breach", [_flag_fault(flag, "60s")],
                           slos=[{"name": "errors", "probe": {"chaostoolkit": {
                               "activity": probe, "configuration": {"prometheus_base_url": prom.url}},
                               "interval": "250ms"}}],
                           policies=[{"name": "back", "when": {"slo": "errors"}, "action": "rollback"}],
                           monitor={"interval": "250ms"})
    engine = Engine(EngineSettings(state_dir=tmp_path / "state"))
    finished = await engine.run(load_text(text, "ctk-prom-breach.yaml"))
    assert finished.verdict == "deviated", finished.reason
    assert not flag.exists()


def _run_in_background(tmp_path: Path, text: str) -> subprocess.Popen[bytes]:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return subprocess.Popen([str(BIN / "aftershock"), "run", str(path), "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_after_sigkill_aftershock_recover_runs_the_rollback(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    proc = _run_in_background(tmp_path, host_experiment("ctk-kill", [_flag_fault(flag, "5m")]))
    try:
        assert _until(flag.exists), "the CTK action never ran"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert flag.exists()
    (directory,) = (tmp_path / "state" / "chaostoolkit").iterdir()
    watchdog = int((directory / "watchdog.pid").read_text())
    assert _alive(watchdog)  # it survived the SIGKILL of the run
    done = subprocess.run([str(BIN / "aftershock"), "recover", "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not flag.exists() and (directory / "ended").exists()
    assert _until(lambda: not _alive(watchdog), 10)


def test_an_abort_rolls_the_ctk_action_back(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    proc = _run_in_background(tmp_path, host_experiment("ctk-abort", [_flag_fault(flag, "5m")]))
    try:
        assert _until(flag.exists), "the CTK action never ran"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not flag.exists()  # Ctrl-C: the rollback ran before the run ended
    (directory,) = (tmp_path / "state" / "chaostoolkit").iterdir()
    assert (directory / "ended").exists()


def test_after_sigkill_the_watchdog_rolls_back_at_the_deadline(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    proc = _run_in_background(tmp_path, host_experiment("ctk-deadline", [_flag_fault(flag, "3s")]))
    try:
        assert _until(flag.exists), "the CTK action never ran"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _until(lambda: not flag.exists(), 60)  # nobody but the detached watchdog is left to do it
    (directory,) = (tmp_path / "state" / "chaostoolkit").iterdir()
    log = directory / "watchdog.log"  # written once the rollback returned, a moment after the flag went
    assert _until(lambda: log.exists() and "rollback ran at the deadline" in log.read_text(), 30), \
        log.read_text() if log.exists() else "no watchdog.log"
    done = subprocess.run([str(BIN / "aftershock"), "recover", "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr  # the record is cleared; the rollback ran once


def test_an_action_without_rollback_is_refused_unless_it_ends_by_itself(tmp_path: Path) -> None:
    fault = _flag_fault(tmp_path / "flag", "30s")
    del fault["rollback"]
    path = tmp_path / "exp.yaml"
    path.write_text(host_experiment("ctk-no-rollback", [fault]))
    done = subprocess.run([str(BIN / "aftershock"), "validate", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and "declared instantaneous" in done.stdout + done.stderr
    path.write_text(host_experiment("ctk-instant", [{**fault, "ends": "instantaneous"}]))
    done = subprocess.run([str(BIN / "aftershock"), "validate", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    secret = {**fault, "ends": "instantaneous", "secrets": {"aws": {"key": "AKIA-literal"}}}
    path.write_text(host_experiment("ctk-literal", [secret]))
    done = subprocess.run([str(BIN / "aftershock"), "validate", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and "written in the file is refused" in done.stdout + done.stderr
    assert "AKIA-literal" not in done.stdout + done.stderr


def test_the_dry_run_names_the_package_of_a_missing_driver_and_the_processes(tmp_path: Path) -> None:
    aws = {"name": "stop", "type": "chaostoolkit", "duration": "1m",
           "action": {"type": "action", "name": "stop",
                      "provider": {"type": "python", "module": "chaosaws.ec2.actions", "func": "stop_instances"}},
           "rollback": {"type": "action", "name": "start",
                        "provider": {"type": "python", "module": "chaosaws.ec2.actions", "func": "start_instances"}}}
    path = tmp_path / "exp.yaml"
    path.write_text(host_experiment("ctk-aws", [aws]))
    env = {**os.environ}
    done = subprocess.run([str(BIN / "aftershock"), "run", "--dry-run", str(path), "--state-dir",
                           str(tmp_path / "state")], capture_output=True, text=True, check=False, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "chaosaws.ec2.actions is not importable" in output and "pip install chaostoolkit-aws" in output
    done = subprocess.run([str(BIN / "aftershock"), "validate", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and done.stderr.count("provided by chaostoolkit-aws") == 1, done.stderr
    path.write_text(host_experiment("ctk-process", [_flag_fault(tmp_path / "flag", "1m")]))
    done = subprocess.run([str(BIN / "aftershock"), "run", "--dry-run", str(path), "--state-dir",
                           str(tmp_path / "state")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runs process 'touch' on this host" in done.stdout and "not counted by Aftershock" in done.stdout
    assert not (tmp_path / "flag").exists()
