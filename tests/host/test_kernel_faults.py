"""Kernel faults (iptables, tc) and their watchdogs, only inside network namespaces these tests create.

They need root (network namespaces, iptables, tc): CI runs as root; without it every test fails
with a message that says so (never a silent skip). Timings are asserted only as bounds a loaded
machine cannot break (a rule never vanishes *before* its deadline); how late the watchdog is, and
how close the tbf rate is, are measured by ``bench/bench_fault_accuracy.py``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.clients.host import watchdog
from chaos.clients.host.commands import Runner
from chaos.clients.host.iptables import IptablesFaults
from chaos.clients.host.netns import temporary_netns
from chaos.clients.host.tc import TcFaults
from chaos.errors import CapabilityMissing, PreflightRefused

pytestmark = [pytest.mark.root]
HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[Runner]:
    if os.geteuid() != 0:
        pytest.fail("kernel fault tests need root (network namespaces, iptables, tc); CI runs as root: "
                    "run them with sudo, or run the rest of the suite with `-m 'not root'`")
    pid_dir = tmp_path / "watchdogs"
    try:
        with temporary_netns("test", veth=True) as runner:
            yield runner
    finally:
        for path, pid in watchdog.pending(pid_dir):
            os.kill(pid, signal.SIGTERM)
            path.unlink(missing_ok=True)


def traffic(runner: Runner, *args: object) -> dict[str, float]:
    argv = runner.argv([sys.executable, str(HERE / "netns_traffic.py"), *map(str, args)])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def within_binomial(count: float, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


def test_loss_really_drops(netns: Runner, tmp_path: Path) -> None:
    faults = IptablesFaults(tmp_path / "watchdogs", netns)
    rule = faults.add_loss("run-l", "loss1", 50, time.time() + 60, port=5353, protocol="udp")
    assert rule.comment == "aftershock:run-l:loss1" and rule.watchdog_pid
    listed = faults.list_rules()
    assert [r.comment for r in listed] == ["aftershock:run-l:loss1"]
    measured = traffic(netns, "udp-loss", 5353, 2000)
    assert within_binomial(measured["received"], 2000, 0.5), measured
    assert [r.comment for r in faults.remove_run("run-l")] == ["aftershock:run-l:loss1"]
    assert faults.list_rules() == [] and watchdog.pending(tmp_path / "watchdogs") == []
    assert traffic(netns, "udp-loss", 5353, 500)["received"] == 500


def test_partition_refuses_and_foreign_rules_untouched(netns: Runner, tmp_path: Path) -> None:
    netns.run(["iptables", "-A", "INPUT", "-p", "udp", "--dport", "7", "-m", "comment", "--comment",
               "someone-else", "-j", "ACCEPT"])
    faults = IptablesFaults(tmp_path / "watchdogs", netns)
    faults.add_partition("run-p", "cut", time.time() + 60, port=8080)
    faults.add_partition("run-other", "cut", time.time() + 60, port=8081)
    assert traffic(netns, "tcp-probe", 8080, 0.5)["connected"] is False
    assert traffic(netns, "tcp-probe", 8082, 0.5)["connected"] is True
    faults.remove_run("run-p")
    assert traffic(netns, "tcp-probe", 8080, 0.5)["connected"] is True
    assert [r.run_id for r in faults.list_rules()] == ["run-other"]
    assert "someone-else" in netns.run(["iptables", "-S"]).stdout
    with pytest.raises(PreflightRefused, match="port or an address"):
        faults.add_partition("run-p", "all", time.time() + 60)


def test_tbf_throttles_inside_netns(netns: Runner, tmp_path: Path) -> None:
    netns.run(["ip", "link", "set", "lo", "mtu", "1500"])
    tc = TcFaults(tmp_path / "watchdogs", netns)
    rate = 1_000_000
    qdisc = tc.add_bandwidth("run-b", "slow", "lo", rate, time.time() + 60, burst_bytes=32 * 1024)
    assert qdisc.kind == "tbf" and [q.run_id for q in tc.list_qdiscs()] == ["run-b"]
    measured = traffic(netns, "bulk", 9000, 1_500_000)
    assert measured["rate"] <= 1.25 * rate, measured  # never faster than the limit (+ the burst)
    assert [q.interface for q in tc.remove_run("run-b")] == ["lo"]
    assert tc.list_qdiscs() == [] and watchdog.pending(tmp_path / "watchdogs") == []


def _kernel_has_netem(netns: Runner) -> bool:
    """Ask the kernel directly: a netem qdisc on the namespace's ``as1`` (then deleted)."""
    argv = netns.argv(["tc", "qdisc", "add", "dev", "as1", "root", "netem", "delay", "1ms"])
    if subprocess.run(argv, capture_output=True, timeout=30).returncode != 0:
        return False
    netns.run(["tc", "qdisc", "del", "dev", "as1", "root"])
    return True


def test_netem_detection_matches_the_kernel(netns: Runner, tmp_path: Path) -> None:
    has_netem = _kernel_has_netem(netns)
    tc = TcFaults(tmp_path / "watchdogs", netns)
    if has_netem:
        qdisc = tc.add_netem("run-n", "delay", "as0", time.time() + 60, ["delay", "100ms"])
        assert qdisc.kind == "netem" and [q.run_id for q in tc.list_qdiscs()] == ["run-n"]
        tc.remove_run("run-n")
    else:
        with pytest.raises(CapabilityMissing, match="netem is not available"):
            tc.add_netem("run-n", "delay", "as0", time.time() + 60, ["delay", "100ms"])
    assert tc.list_qdiscs() == [] and watchdog.pending(tmp_path / "watchdogs") == []


def test_tc_refuses_host_loopback(tmp_path: Path) -> None:
    with pytest.raises(PreflightRefused, match="loopback"):
        TcFaults(tmp_path, Runner()).add_bandwidth("run-h", "slow", "lo", 1000, time.time() + 10)


CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from chaos.clients.host.commands import Runner
    from chaos.clients.host.iptables import IptablesFaults
    faults = IptablesFaults(Path(sys.argv[1]), Runner(sys.argv[2]))
    deadline = time.time() + float(sys.argv[4])
    faults.add_partition(sys.argv[3], "cut", deadline, port=8443)
    print("added", deadline, flush=True)
    signal.pause()
""")


def _armed_child_killed(netns: Runner, pid_dir: Path, run_id: str, ttl: float) -> float:
    """A child adds a rule with deadline now + ttl and is SIGKILLed; returns that deadline."""
    assert netns.netns is not None
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(pid_dir), netns.netns, run_id, str(ttl)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["added"], line
        return float(line[1])
    finally:
        child.kill()
        child.wait(5)


def test_watchdog_removes_rule_after_sigkill(netns: Runner, tmp_path: Path) -> None:
    pid_dir = tmp_path / "watchdogs"
    deadline = _armed_child_killed(netns, pid_dir, "run-k", 3.0)
    faults = IptablesFaults(pid_dir, netns)
    assert [r.comment for r in faults.list_rules()] == ["aftershock:run-k:cut"]
    assert len(watchdog.pending(pid_dir, "run-k")) == 1
    while faults.list_rules() and time.time() < deadline + 60:  # no event exists for "rule removed"
        time.sleep(0.1)
    gone_seen = time.time()
    assert faults.list_rules() == []
    assert gone_seen >= deadline  # never before its deadline (how late: bench/bench_fault_accuracy.py)
    while watchdog.pending(pid_dir) and time.time() < deadline + 60:
        time.sleep(0.1)
    assert watchdog.pending(pid_dir) == []


def test_remove_run_after_sigkill_disarms_watchdog(netns: Runner, tmp_path: Path) -> None:
    pid_dir = tmp_path / "watchdogs"
    _armed_child_killed(netns, pid_dir, "run-r", 60.0)
    faults = IptablesFaults(pid_dir, netns)
    [pending] = watchdog.pending(pid_dir, "run-r")
    assert [r.comment for r in faults.remove_run("run-r")] == ["aftershock:run-r:cut"]
    assert faults.list_rules() == [] and watchdog.pending(pid_dir) == []
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # SIGTERM was sent; bounded wait for the process to vanish
            os.kill(pending[1], 0)
            time.sleep(0.05)


def test_tc_removal_for_a_record_takes_only_the_qdisc_its_run_owns(netns: Runner, tmp_path: Path) -> None:
    """A record of run-a naming an interface where run-b's a5c0: qdisc now sits does not remove it."""
    tc = TcFaults(tmp_path / "watchdogs", netns)
    tc.add_bandwidth("run-b", "slow", "lo", 1_000_000, time.time() + 60)
    assert tc.remove("lo", "run-a", "slow") is False
    assert tc.remove("lo", "run-b", "other") is False
    assert [q.run_id for q in tc.list_qdiscs()] == ["run-b"]
    assert tc.remove("lo", "run-b", "slow") is True
    assert tc.list_qdiscs() == [] and watchdog.pending(tmp_path / "watchdogs") == []
