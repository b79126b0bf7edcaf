"""kill -9 of ``aftershock run`` at a random moment of each phase against the real API server, then
``aftershock recover``: nothing of ours is left.

The Kubernetes counterpart of ``tests/resilience/test_kill9.py`` (the host target). Each kill starts a
Kubernetes experiment (a NetworkChaos, a degrade policy patching a ConfigMap) with ``--output json``,
waits for the NDJSON event that opens the phase, SIGKILLs the process after a random delay drawn
from the seeded generator, runs the real ``aftershock recover`` and checks: no chaos object with our
labels (the Chaos Mesh stand-in lets the finalizer go), the ConfigMap's original data, no live fault
row and no pending undo plan in the state DB, ``runs`` and ``show RUN`` readable. The seed is fixed
(``SEED``) so CI replays the same moments; ``AFTERSHOCK_KILL9_SEED`` picks another one, and the seed
used is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
from pathlib import Path

from kube.realshop import MANAGED, chaos_items
from kube.standin import ChaosMeshStandIn
from kube.testbed import Testbed

from chaos.clients.state import StateStore
from k8s_run.conftest import BAD, GOOD, Cli, Metrics, experiment, in_namespace, write

SEED = 14
PHASES: dict[str, tuple[str, float]] = {
    # phase: (the event that opens it, the longest random delay after it in seconds)
    "before-inject": ("RunStarted", 0.5),
    "mid-fault": ("FaultInjected", 0.5),
    "degraded": ("ActionApplied", 0.5),
    "removal": ("FaultRemoved", 0.1),
}


async def run_and_kill(cli: Cli, file: Path, run_id: str, anchor: str, delay: float,
                       metrics: Metrics, series: str) -> str:
    """Start ``aftershock run``; SIGKILL it ``delay`` s after the ``anchor`` event (or when it ends first).
    The SLO turns bad once the fault is injected, so the degrade policy fires. Returns the last event."""
    running = await cli.start(*cli.run_args(file, "--run-id", run_id, "--output", "json"))
    proc = running.proc
    assert proc.stdout is not None
    stdout = proc.stdout
    seen = {"last": ""}
    anchored = asyncio.Event()

    async def read() -> None:
        while line := await stdout.readline():
            with contextlib.suppress(ValueError):
                seen["last"] = str(json.loads(line).get("event", seen["last"]))
            if seen["last"] == "FaultInjected":
                metrics.set(series, BAD)
            if seen["last"] == anchor:
                anchored.set()
        anchored.set()  # the run ended without the anchor

    reader = asyncio.ensure_future(read())
    try:
        async with asyncio.timeout(90):
            await anchored.wait()
        await asyncio.sleep(delay)  # the random moment inside the phase (not a wait for an event)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return seen["last"]


async def leftovers(bed: Testbed, cli: Cli, ns: str, run_id: str, original: dict[str, str]) -> list[str]:
    left = [f"chaos object {o['metadata']['name']}" for o in chaos_items(bed, ns, selector=MANAGED)]
    with bed.admin() as api:
        data = api.get(f"/api/v1/namespaces/{ns}/configmaps/flags").raise_for_status().json()["data"]
    if data != original:
        left.append(f"ConfigMap flags not restored: {data}")
    store = StateStore(cli.state_dir)
    try:
        left += [f"live fault row {r.fault} ({r.state})" for r in store.faults(run_id, live_only=True)]
        left += [f"pending undo plan {u.items}" for u in store.undo_plans() if u.run_id == run_id]
    finally:
        store.close()
    runs = await cli("runs", "--state-dir", str(cli.state_dir))
    if runs.rc != 0 or run_id not in runs.stdout:
        left.append(f"runs unreadable (exit {runs.rc}): {runs.stderr[-300:]}")
    show = await cli("show", run_id, "--state-dir", str(cli.state_dir))
    if show.rc != 0:
        left.append(f"show unreadable (exit {show.rc}): {show.stderr[-300:]}")
    return left


async def test_kill9_at_random_points_then_recover_leaves_nothing(
        kube_testbed: Testbed, ns: str, metrics: Metrics, series: str, standin: ChaosMeshStandIn,
        tmp_path: Path) -> None:
    seed = int(os.environ.get("AFTERSHOCK_KILL9_SEED") or SEED)
    print(f"kubernetes kill -9 seed {seed} (replay: AFTERSHOCK_KILL9_SEED={seed})")
    rng = random.Random(seed)
    original = {"payment_channel": "primary", "retries": "3"}
    kube_testbed.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": ns},
                        "data": original})
    doc = experiment("kill9-real", series, duration="6s", policies=[{
        "name": "backup-channel", "when": {"slo": "latency"}, "action": "degrade",
        "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "flags",
                                          "data": {"payment_channel": "backup", "fallback": "on"}}}}}])
    file = write(tmp_path, in_namespace(doc, ns))
    report = []
    for index, (phase, (anchor, max_delay)) in enumerate(PHASES.items()):
        run_id = f"kill9k{index}"
        delay = rng.uniform(0, max_delay)
        await metrics.settle(series, GOOD)
        cli = Cli(kube_testbed.kubeconfig, tmp_path / f"state-{run_id}", metrics.url, tmp_path)
        last = await run_and_kill(cli, file, run_id, anchor, delay, metrics, series)
        metrics.set(series, GOOD)
        recovered = await cli.recover()
        left = [] if recovered.rc == 0 else [f"recover exit {recovered.rc}: {recovered.stdout + recovered.stderr}"]
        left += await leftovers(kube_testbed, cli, ns, run_id, original)
        report.append({"phase": phase, "delay_s": round(delay, 3), "last_event": last, "leftovers": left})
        print(json.dumps(report[-1]))
    assert [k for k in report if k["leftovers"]] == [], f"seed {seed}: {report}"
