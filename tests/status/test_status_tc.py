"""``aftershock status`` lists the tc qdiscs Aftershock installed, in a network namespace this test
creates (and removes): one recorded by a run (live, then gone once removed), one no state store
known to status recorded (listed as ours, with its owner), and someone else's tbf (never listed).

The recorded fault is planned by the real host planner and installed by the real ``TcFaults``
(what the host target does on inject); status runs as the CLI command in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from harness.experiments import host_experiment

from chaos.cli import main
from chaos.clients.host import watchdog
from chaos.clients.host.commands import Runner
from chaos.clients.host.netns import temporary_netns
from chaos.clients.host.tc import HANDLE, TcFaults
from chaos.clients.state import StateStore
from chaos.compiling.host import plan_host
from chaos.loading import load_text
from chaos.targets.host import remove_realisation
from chaos.targets.realisations import planned_host_realisation, realisation_to_record

pytestmark = [pytest.mark.root]

@pytest.fixture
def netns(tmp_path: Path) -> Iterator[Runner]:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (a network namespace and tc); CI runs as root")
    try:
        with temporary_netns("status", veth=True) as runner:
            yield runner
    finally:
        for pid_dir in tmp_path.glob("*/watchdogs"):
            for path, pid in watchdog.pending(pid_dir):
                os.kill(pid, signal.SIGTERM)
                path.unlink(missing_ok=True)


def status(state_dir: Path, netns: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["status", "-o", "json", "--state-dir", str(state_dir)])
    assert result.exit_code == 0, result.output
    return [f for f in json.loads(result.output)["faults"] if netns in f["detail"]]


def text_status(state_dir: Path) -> str:
    result = CliRunner().invoke(main, ["status", "--state-dir", str(state_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_lists_our_tc_qdiscs(netns: Runner, tmp_path: Path) -> None:
    assert netns.netns is not None
    name = netns.netns
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"
    store = StateStore(state)
    deadline = time.time() + 120
    throttle = {"name": "throttle", "type": "network-bandwidth", "selector": {"interface": "as0", "netns": name},
                "rate": "1mbps", "limit": 100, "buffer": 10000, "duration": "2m"}
    loaded = load_text(host_experiment("slow-link", [throttle]), "slow-link.yaml", environ={})
    (plan,) = plan_host(loaded.experiment, "run-tc1", {"throttle": deadline})
    realisation = realisation_to_record(planned_host_realisation(plan))
    store.start_run("run-tc1", "slow-link", "slow-link.yaml", "host", time.time())
    store.record_fault("run-tc1", "throttle", plan.fault_type, realisation, deadline)
    TcFaults(state / "watchdogs", netns).add_bandwidth("run-tc1", "throttle", "as0",
                                                       int(plan.kernel["rate_bytes_per_s"]), deadline)
    store.update_fault("run-tc1", "throttle", "injected")
    # ours, recorded in a state dir status does not know of
    TcFaults(elsewhere / "watchdogs", netns).add_bandwidth("run-tc2", "other", "as1", 50_000, deadline)
    # someone else's shaping: never listed
    netns.run(["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "tbf", "rate", "8mbit", "burst", "32kb",
               "latency", "50ms"])

    listed = status(state, name)
    recorded = [f for f in listed if f["run"] == "run-tc1"]
    assert [(f["fault"], f["target"], f["state"]) for f in recorded] == [("throttle", "tc", "live")]
    assert recorded[0]["detail"] == f"tc tbf (handle {HANDLE}) on as0 in netns {name}"
    assert recorded[0]["state_dir"] == str(state.resolve())
    unrecorded = [f for f in listed if f["run"] != "run-tc1"]
    assert [(f["target"], f["state"]) for f in unrecorded] == [("tc", "live")]
    assert f"on as1 in netns {name}" in unrecorded[0]["detail"]
    assert "in no state store known here" in unrecorded[0]["detail"]
    assert not any(" on lo " in f["detail"] or f["detail"].endswith(" lo") for f in listed), "not ours"
    assert "throttle (network-bandwidth, tc): tc tbf" in text_status(state)

    assert asyncio.run(remove_realisation(realisation, state)) == "tc qdisc on as0 removed"
    listed = status(state, name)
    assert [(f["run"], f["state"]) for f in listed if f["run"] == "run-tc1"] == [("run-tc1", "gone")]
    assert "no tc qdisc with handle" in next(f["detail"] for f in listed if f["run"] == "run-tc1")
    assert TcFaults(elsewhere / "watchdogs", netns).remove("as1")
    assert [f["run"] for f in status(state, name)] == ["run-tc1"], "the unrecorded qdisc is gone too"
    assert "qdisc tbf 1: root" in netns.run(["tc", "qdisc", "show", "dev", "lo"]).stdout, "someone else's left alone"
