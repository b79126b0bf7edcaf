"""Liveness is decided by the owner: ``recover`` under another state dir leaves a live run's faults alone.

Real ``aftershock run`` processes with a real iptables partition on loopback (``-d 127.0.0.1`` on a
free port: no other traffic is touched). A run holds its host-wide lock (``chaos.clients.registry``)
while it lives; ``recover`` without ``--all`` consults it, whatever state dir either uses. Once
the run is SIGKILLed the kernel drops the lock and the same ``recover`` removes the rule. A run
whose fault is removed under it says so.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.helpers import Cli, aftershock

from chaos.clients.host import watchdog
from chaos.clients.host.commands import Runner
from chaos.clients.host.iptables import IptablesFaults
from chaos.clients.registry import is_alive
from chaos.demo.prometheus import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.root]

EXPERIMENT = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: liveness}
spec:
  target: {type: host}
  faults:
    - name: cut
      type: network-partition
      selector: {port: %(port)d, address: 127.0.0.1}
      duration: %(duration)s
"""


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.fail("these tests inject iptables rules and need root (CI runs as root): run them with sudo")


@pytest.fixture
def state_dirs(tmp_path: Path, root: None) -> Iterator[tuple[Path, Path]]:
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    try:
        yield s1, s2
    finally:
        for directory in (s1, s2):
            for path, pid in watchdog.pending(directory / "watchdogs"):
                os.kill(pid, signal.SIGTERM)
                path.unlink(missing_ok=True)
        ipt = IptablesFaults(tmp_path / "none", Runner())
        for rule in ipt.list_rules():
            if rule.run_id.startswith("live"):
                ipt.remove(rule)


def comments() -> list[str]:
    return [r.comment for r in IptablesFaults(Path("/nonexistent"), Runner()).list_rules()]


async def test_recover_elsewhere_spares_a_live_run_and_cleans_after_it_dies(
        state_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    s1, s2 = state_dirs
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT % {"port": free_port(), "duration": "60s"})
    cli = await Cli.start("run", str(path), "--run-id", "live0001", "--state-dir", str(s1), "--output", "json")
    await cli.said("run id: live0001")
    assert cli.events == [] or cli.events[0]["event"] == "RunStarted"  # the id came before any event
    await cli.event("FaultInjected", timeout=60)
    assert "aftershock:live0001:cut" in comments() and is_alive("live0001")

    rc, out, err = await aftershock("recover", "--state-dir", str(s2))
    assert rc == 0, out + err
    assert "aftershock:live0001:cut" in comments(), "recover removed a live run's rule"
    rc, out, err = await aftershock("status", "--state-dir", str(s2), "--output", "json")
    assert rc == 0, err
    report = json.loads(out)
    # The registry is host-wide: other live runs on this host may be listed too, never as s2's.
    assert "live0001" in [r["run"] for r in report["live_runs"]]
    [fault] = [f for f in report["faults"] if f["run"] == "live0001"]
    assert (fault["state"], fault["run_alive"], fault["target"]) == ("live", True, "iptables")
    assert fault["state_dir"] == str(s1.resolve())  # found through the registry, not s2's store

    cli.signal(signal.SIGKILL)
    await cli.wait(30)
    assert not is_alive("live0001")
    rc, out, err = await aftershock("recover", "--state-dir", str(s2))
    assert rc == 0 and "iptables rule aftershock:live0001:cut removed" in out, out + err
    assert "aftershock:live0001:cut" not in comments()


async def test_a_run_whose_fault_is_removed_under_it_says_so(state_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    s1, s2 = state_dirs
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT % {"port": free_port(), "duration": "8s"})
    cli = await Cli.start("run", str(path), "--run-id", "live0002", "--state-dir", str(s1), "--output", "json")
    await cli.event("FaultInjected", timeout=60)
    rc, out, err = await aftershock("recover", "--all", "--state-dir", str(s2))
    assert rc == 0 and "aftershock:live0002:cut removed" in out, out + err
    assert await cli.wait(60) == 0, cli.stderr
    warnings = [e["message"] for e in cli.events if e["event"] == "RunLog" and e["level"] == "warning"]
    assert any("fault cut was already gone" in w and "something else removed it" in w for w in warnings), cli.kinds()
