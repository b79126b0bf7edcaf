"""Breach-to-recovery with Aftershock's policy vs the same fault without one, in the same run.

Real Prometheus, real demo services under load, a real 500 ms latency fault through the fault
proxy (``experiments/demo-payment-latency.yaml``). Each round runs the experiment twice:

- **policy**: as written — the P95 SLO breaches, ``fast-rollback`` removes the fault;
- **baseline**: the same experiment with its policies removed — the fault runs its whole window
  (what a fixed-duration chaos run without stop conditions does).

Reported per round: breach observed → fault removed, and breach → SLO holding again, for both,
and the ratio baseline / policy of the time the SLO stayed breached. A script, not a test:

    .venv/bin/python bench/bench_recovery.py [--rounds 3] [--duration 20s]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chaos.commands.demo import _warm_up  # noqa: E402
from chaos.demo.prometheus import PrometheusServer  # noqa: E402
from chaos.demo.stack import DemoStack  # noqa: E402
from chaos.engine import events as ev  # noqa: E402
from chaos.engine.driver import Engine, EngineSettings  # noqa: E402
from chaos.loading import Loaded, load_file  # noqa: E402


async def one(loaded: Loaded, environ: dict[str, str], state: Path) -> dict[str, float]:
    engine = Engine(EngineSettings(state_dir=state, environ=environ))
    seen: list[ev.RunEvent] = []
    engine.subscribe(seen.append)
    await _warm_up(loaded, environ)
    await engine.run(loaded)
    breach = next((e.at for e in seen if isinstance(e, ev.SloSampled)
                   and any(v.slo == "checkout-p95" and v.breached for v in e.tick.verdicts)), None)
    if breach is None:
        raise SystemExit("the SLO never breached: nothing to measure")
    removed = next(e.at for e in seen if isinstance(e, ev.FaultRemoved))
    holds = [e.at for e in seen if isinstance(e, ev.SloSampled) and e.at > breach
             and all(v.holds for v in e.tick.verdicts if v.slo == "checkout-p95")]
    after = next((e.at for e in seen if isinstance(e, ev.SteadyStateChecked) and e.phase == "after" and e.holds),
                 None)
    recovered = min([*holds, *([after] if after else [])])
    return {"removed": removed - breach, "recovered": recovered - breach}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="20s")
    args = parser.parse_args()
    rows: list[tuple[dict[str, float], dict[str, float]]] = []
    async with DemoStack(load_rate=25.0) as stack, \
            PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
        environ = {**os.environ, "AFTERSHOCK_PROMETHEUS_URL": prom.url, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
                   "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                   "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token}
        path = REPO / "experiments" / "demo-payment-latency.yaml"
        with_policy = load_file(path, overrides={"duration": args.duration}, environ=environ)
        spec = with_policy.experiment.spec.model_copy(update={"policies": []})
        baseline = Loaded(experiment=with_policy.experiment.model_copy(update={"spec": spec}),
                          source=with_policy.source, raw=with_policy.raw)
        with tempfile.TemporaryDirectory() as state:
            for i in range(args.rounds):
                p = await one(with_policy, environ, Path(state))
                b = await one(baseline, environ, Path(state))
                rows.append((p, b))
                print(f"round {i + 1}: policy removed {p['removed']:.2f}s recovered {p['recovered']:.2f}s | "
                      f"baseline removed {b['removed']:.2f}s recovered {b['recovered']:.2f}s | "
                      f"ratio {b['recovered'] / p['recovered']:.1f}x", flush=True)
    p_rec = statistics.median(p["recovered"] for p, _ in rows)
    b_rec = statistics.median(b["recovered"] for _, b in rows)
    p_rem = statistics.median(p["removed"] for p, _ in rows)
    print(f"median breach → fault removed: policy {p_rem:.2f}s; breach → SLO holds: policy {p_rec:.2f}s, "
          f"baseline {b_rec:.2f}s; baseline/policy = {b_rec / p_rec:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
