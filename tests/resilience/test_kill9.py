"""kill -9 of ``aftershock run`` at a random point of each phase, then ``aftershock recover``: nothing left.

A modest number of kills (one round: 5 phases over the host proxy with a degrade webhook, 3 over a
kernel rule in a network namespace made here) with a random seed that is printed (set
``AFTERSHOCK_KILL9_SEED`` to replay one). The harness is ``bench/bench_kill.py``, which runs more
rounds and reports the figures of docs/reliability.md. Kernel rules must vanish by their deadline
without any ``recover`` (the watchdog).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_kill

pytestmark = [pytest.mark.e2e, pytest.mark.root]


async def test_kill9_at_random_points_leaves_nothing_after_recover(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the kill -9 test injects kernel rules in a network namespace and needs root (CI runs as root)")
    seed = int(os.environ.get("AFTERSHOCK_KILL9_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"kill -9 seed {seed} (replay: AFTERSHOCK_KILL9_SEED={seed})")
    kills = await bench_kill.run(1, seed, tmp_path)
    summary = bench_kill.summary(kills, seed)
    print(summary)
    assert len(kills) == len(bench_kill.PROXY_PHASES) + len(bench_kill.KERNEL_PHASES)
    assert summary["leftovers"] == [], f"seed {seed}: {summary}"
