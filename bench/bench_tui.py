"""TUI benchmark: 20 concurrent runs with 5 SLOs each — input latency and CPU share.

Drives the real app (``tui.app.create_app``) headless over the real engine on the tests' scripted
world (``tests/tui/world.py``: in-memory target, scripted Prometheus answers, virtual clock) whose
runs never breach (long lead), at 1 s ticks (real time) and time-compressed (0.1 s ticks, 10x the
event rate). Measures:

* input latency: a key event posted to the app → its effect is visible in the UI state
  (``]`` switches the live screen to the next run and redraws its 5 charts, log and panels);
  and ``a`` (abort) → the engine has removed the run's faults;
* CPU share of the TUI process (``getrusage`` user+system / wall) over a steady window; the
  engine runs on a thread of the same process, so its cost is included;
* event lag: engine events forwarded by the bridge but not yet folded by the UI at the end.

Headless: widgets render and the compositor composes every frame, but nothing is written to a
terminal, so escape-sequence output is not counted. Run: ``.venv/bin/python bench/bench_tui.py``
(``--quick`` for a short smoke run). Prints a table; figures go to docs/benchmarks.md ("TUI").
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from textual import events

from chaos.loading import Loaded, load_text
from tui.app import create_app
from tui.messages import LaunchRequested
from tui.screens.live import LiveScreen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tui"))
from world import WorldEngine

RUNS = 20
SLOS = 5


def experiment(index: int) -> Loaded:
    slos = "\n".join(
        f"""    - name: slo-{n}
      query: histogram_quantile(0.95, sum by (le) (rate(latency_bucket{{svc="s{index}-{n}"}}[1m])))
      objective: {{op: "<", value: {0.2 * (n + 1):g}}}""" for n in range(SLOS))
    text = f"""apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {{name: bench-{index:02d}}}
spec:
  target: {{type: kubernetes, namespace: shop}}
  faults:
    - name: delay
      type: network-delay
      selector: {{labels: {{app: svc-{index}}}}}
      latency: 100ms
      duration: 24h
  slos:
{slos}
  policies:
    - name: rollback
      when: {{slo: slo-0}}
      action: rollback
"""
    return load_text(text, f"bench-{index:02d}.yaml")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.0002)


async def scenario(tick: float, window: float, presses: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as empty:
        engine = WorldEngine(Path(empty) / "state", step_delay=tick, lead_ticks=10**9)
        app = create_app(engine, Path(empty), clock=engine.now)
        async with app.run_test(size=(120, 40)) as pilot:
            for index in range(RUNS):
                app.post_message(LaunchRequested(experiment(index)))
            await until(lambda: len(app.store.runs) == RUNS and isinstance(app.screen, LiveScreen))
            live = app.screen
            assert isinstance(live, LiveScreen)
            await until(lambda: all(len(r.slos["slo-0"].points) >= 3 for r in app.store.runs.values()),
                        timeout=10 * tick + 10)
            await pilot.pause(0.2)

            applied_before = sum(r.version for r in app.store.runs.values())
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            await asyncio.sleep(window)
            wall1, cpu1 = time.perf_counter(), cpu_seconds()
            applied = sum(r.version for r in app.store.runs.values()) - applied_before
            lag = app.bridge.events - sum(r.version for r in app.store.runs.values())

            latencies: list[float] = []
            wall2, cpu2 = time.perf_counter(), cpu_seconds()
            for _ in range(presses):
                ids = list(app.store.runs)
                expected = ids[(ids.index(live.run_id) + 1) % len(ids)]
                start = time.perf_counter()
                app.post_message(events.Key("right_square_bracket", "]"))
                await until(lambda expected=expected: live.run_id == expected and live.drawn[0] == expected)
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(0.05)  # a fast typist, not a flood
            wall3, cpu3 = time.perf_counter(), cpu_seconds()

            victim = live.run_id
            assert victim is not None
            start = time.perf_counter()
            app.post_message(events.Key("a", "a"))
            await until(lambda: not engine.active_faults(victim))
            abort_latency = time.perf_counter() - start
            for run_id in list(app.store.runs):
                if engine.alive(run_id):
                    await app.bridge.call(engine.abort, run_id)
    return {
        "tick": tick,
        "events_per_s": applied / (wall1 - wall0),
        "cpu_idle_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "cpu_typing_pct": 100 * (cpu3 - cpu2) / (wall3 - wall2),
        "lag": float(lag),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * pct(latencies, 0.95),
        "max_ms": 1000 * max(latencies),
        "abort_ms": 1000 * abort_latency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows (smoke run)")
    args = parser.parse_args()
    window, presses = (3.0, 10) if args.quick else (15.0, 40)
    print(f"TUI benchmark: {RUNS} concurrent runs x {SLOS} SLOs, 120x40 headless, "
          f"python {sys.version.split()[0]}")
    header = (f"{'tick':>6} {'events/s':>9} {'CPU idle':>9} {'CPU typing':>11} {'lag':>4} "
              f"{'key p50':>8} {'key p95':>8} {'key max':>8} {'abort':>8}")
    print(header)
    for tick in (1.0, 0.1):
        r = asyncio.run(scenario(tick, window, presses))
        print(f"{r['tick']:>5.1f}s {r['events_per_s']:>9.0f} {r['cpu_idle_pct']:>8.1f}% {r['cpu_typing_pct']:>10.1f}% "
              f"{r['lag']:>4.0f} {r['p50_ms']:>6.1f}ms {r['p95_ms']:>6.1f}ms {r['max_ms']:>6.1f}ms "
              f"{r['abort_ms']:>6.1f}ms")


if __name__ == "__main__":
    main()
