"""``aftershock status`` on the Kubernetes target: store records joined with the API server's objects.

A run SIGKILLed mid-fault leaves its NetworkChaos: status shows it live and its run dead (from the
store, checked against the emulated API server); from a state dir that never saw the run, status
still lists it, found by our labels; after ``recover``, nothing is live.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from k8s.emulator import ClusterEmulator

from k8s_run.conftest import Cli, experiment, live, write


@pytest.mark.usefixtures("shop")
async def test_status_joins_the_store_with_the_cluster(cluster: ClusterEmulator, cli: Cli, series: str,
                                                       tmp_path: Path) -> None:
    running = await cli.start(*cli.run_args(write(tmp_path, experiment("k8s-status", series, duration="5m")),
                                            "--output", "json"))
    injected = await running.until("FaultInjected")
    run_id = injected["run_id"]
    running.proc.kill()
    await running.proc.wait()
    (nc,) = live(cluster, "networkchaos")

    result = await cli("status", "--state-dir", str(cli.state_dir), "--kubeconfig", str(cli.kubeconfig),
                       "--output", "json")
    assert result.rc == 0, result.stderr
    [fault] = json.loads(result.stdout)["faults"]
    assert (fault["run"], fault["fault"], fault["target"], fault["state"], fault["run_alive"]) == \
        (run_id, "payment-delay", "kubernetes", "live", False)
    assert nc[2] in fault["detail"]

    elsewhere = await cli("status", "--state-dir", str(tmp_path / "empty"), "--kubeconfig", str(cli.kubeconfig),
                          "--output", "json")
    [found] = json.loads(elsewhere.stdout)["faults"]
    assert (found["run"], found["state"]) == (run_id, "live") and "in no state store known here" in found["detail"]

    assert (await cli.recover()).rc == 0
    after = await cli("status", "--state-dir", str(cli.state_dir), "--kubeconfig", str(cli.kubeconfig))
    assert after.rc == 0 and after.stdout.strip() == "no live faults", after.stdout
