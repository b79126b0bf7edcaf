"""kill -9 of ``aftershock run`` at random points, then ``aftershock recover``: what is left?

    .venv/bin/python bench/bench_kill.py [--rounds 5] [--seed N]

Each round SIGKILLs the installed ``aftershock run`` once per phase, at a random delay (seeded; the
seed is printed) after the event that opens the phase:

- host proxy (the demo's fault proxy, two faults, a degrade webhook on an always-breached SLO, a real
  Prometheus): ``before-record`` (after RunStarted), ``record-inject`` (after FaultRecorded),
  ``mid-fault`` (after FaultInjected), ``degrade`` (after PolicyFired), ``removal`` (after the first
  FaultRemoved); then ``aftershock recover`` and the audit: no fault of the run in the proxy, no live
  fault row, no pending undo plan, the webhook reverted, ``runs`` and ``show`` readable;
- host kernel rules (an iptables partition inside a network namespace made here; root only):
  ``before-record``, ``record-inject``, ``mid-fault``; no ``recover``: the rule must be gone by its
  deadline (the watchdog), then ``recover`` settles the store.

Prints one JSON line per kill and a summary (kills, leftovers, worst time-to-clean). Also used by
``tests/resilience/test_kill9.py`` with a modest number of rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
AFTERSHOCK = Path(sys.executable).parent / "aftershock"

PROXY_PHASES = {"before-record": ("RunStarted", 0.4), "record-inject": ("FaultRecorded", 0.05),
                "mid-fault": ("FaultInjected", 2.0), "degrade": ("PolicyFired", 0.1),
                "removal": ("FaultRemoved", 0.02)}
KERNEL_PHASES = {"before-record": ("RunStarted", 0.4), "record-inject": ("FaultRecorded", 0.05),
                 "mid-fault": ("FaultInjected", 2.0)}

sys.path.insert(0, str(REPO / "tests"))
from e2e.helpers import Cli, aftershock  # noqa: E402  (the e2e tests' CLI harness)
from harness.experiments import DEMO_PROXY, delay, host_experiment, netns_port, partition, slo  # noqa: E402

PROXY_EXPERIMENT = host_experiment(
    "kill9-proxy", [delay("slow-a", DEMO_PROXY, "4s", latency="5ms"), delay("slow-b", DEMO_PROXY, "4s", latency="5ms")],
    slos=[slo("up", "vector(0)", "<", 1), slo("breached", "vector(1)", "<", 0.5)], steadyState=["up"],
    policies=[{"name": "fallback", "when": {"slo": "breached"}, "action": "degrade",
               "with": {"http": {"url": "{{ env.KILL9_WEBHOOK }}/degrade"},
                        "revert": {"url": "{{ env.KILL9_WEBHOOK }}/revert"}}}],
    monitor={"prometheus": "{{ env.AFTERSHOCK_PROMETHEUS_URL }}", "interval": "300ms"}, recovery={"timeout": "2s"})
"""Two faults through the demo's proxy, a degrade webhook on an always-breached SLO."""


def kernel_experiment(netns: str) -> str:
    """An iptables partition inside ``netns``."""
    return host_experiment("kill9-kernel", [partition("cut", netns_port(8443, netns), "4s")])


@dataclass
class Webhook:
    """Degrade sets ``degraded``; revert clears it."""

    degraded: int = 0
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        async def degrade(request: web.Request) -> web.Response:
            self.degraded += 1
            return web.json_response({})

        async def revert(request: web.Request) -> web.Response:
            self.degraded = 0
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/degrade", degrade)
        app.router.add_post("/revert", revert)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Kill:
    target: str
    phase: str
    delay_s: float
    last_event: str = ""
    leftovers: list[str] = field(default_factory=list)
    time_to_clean_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "phase": self.phase, "delay_s": round(self.delay_s, 3),
                "last_event": self.last_event, "leftovers": self.leftovers,
                "time_to_clean_s": round(self.time_to_clean_s, 3)}


async def _run_and_kill(path: Path, state: Path, run_id: str, anchor: str, delay: float,
                        env: dict[str, str]) -> tuple[str, float]:
    """Start ``aftershock run``; SIGKILL it ``delay`` s after its ``anchor`` event. Returns the last event
    seen before the kill and the kill time (the run may finish first: then the last event is RunFinished)."""
    cli = await Cli.start("run", str(path), "--run-id", run_id, "--state-dir", str(state), "--output", "json",
                          env=env)
    try:
        with contextlib.suppress(AssertionError):  # the run ended without the anchor
            await cli.event(anchor, timeout=60)
            await asyncio.sleep(delay)  # the kill point: a random delay into the phase
        with contextlib.suppress(ProcessLookupError):
            cli.signal(signal.SIGKILL)
        killed_at = time.time()
        await cli.wait(30)
    finally:
        await cli.kill()
    return (str(cli.events[-1]["event"]) if cli.events else ""), killed_at


async def _recover(kill: Kill, state: Path, env: dict[str, str]) -> None:
    rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)
    if rc != 0:
        kill.leftovers.append(f"recover exit {rc}: {(out + err).strip()[-300:]}")


async def _audit_store(state: Path, run_id: str, env: dict[str, str]) -> list[str]:
    from chaos.clients.state import StateStore

    left: list[str] = []
    store = StateStore(state)
    try:
        left += [f"store: live fault row {r.fault} ({r.state})" for r in store.faults(run_id, live_only=True)]
        left += [f"store: pending undo plan {u.items}" for u in store.undo_plans() if u.run_id == run_id]
    finally:
        store.close()
    rc, out, err = await aftershock("runs", "--state-dir", str(state), env=env)
    if rc != 0 or run_id not in out:
        left.append(f"runs unreadable (exit {rc}): {err.strip()[-200:]}")
    rc, out, err = await aftershock("show", run_id, "--state-dir", str(state), env=env)
    if rc != 0:
        left.append(f"show unreadable (exit {rc}): {err.strip()[-200:]}")
    return left


async def _round(target: str, phases: dict[str, tuple[str, float]], path: Path, prefix: str, index: int,
                 rng: random.Random, workdir: Path, env: dict[str, str],
                 settle: Callable[[Kill, Path, str, float], Awaitable[None]]) -> list[Kill]:
    """One kill per phase of ``target``: run, SIGKILL at a random delay into the phase, ``settle``
    (what cleans up after this kind of fault, and the checks of what it left), then the store audit."""
    kills = []
    for phase, (anchor, max_delay) in phases.items():
        run_id = f"{prefix}{index:03d}{len(kills)}"
        state = workdir / f"state-{run_id}"
        kill = Kill(target, phase, rng.uniform(0, max_delay))
        kill.last_event, killed_at = await _run_and_kill(path, state, run_id, anchor, kill.delay_s, env)
        await settle(kill, state, run_id, killed_at)
        kill.leftovers += await _audit_store(state, run_id, env)
        kills.append(kill)
        print(json.dumps(kill.as_dict()), flush=True)
    return kills


async def proxy_round(rng: random.Random, workdir: Path, env: dict[str, str], stack: Any,
                      hook: Webhook, index: int) -> list[Kill]:
    from chaos.clients.host.admin_client import ProxyAdminClient

    path = workdir / "kill9-proxy.yaml"
    path.write_text(PROXY_EXPERIMENT)

    async def settle(kill: Kill, state: Path, run_id: str, killed_at: float) -> None:
        await _recover(kill, state, env)
        kill.time_to_clean_s = time.time() - killed_at
        async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
            kill.leftovers += [f"proxy fault {f.id}" for f in await admin.list_faults() if f.run_id == run_id]
        if hook.degraded:
            kill.leftovers.append("degrade left in place (webhook not reverted)")
            hook.degraded = 0

    return await _round("proxy", PROXY_PHASES, path, "kp", index, rng, workdir, env, settle)


async def kernel_round(rng: random.Random, workdir: Path, env: dict[str, str], netns: str,
                       index: int) -> list[Kill]:
    from chaos.clients.host.commands import Runner
    from chaos.clients.host.iptables import IptablesFaults

    path = workdir / "kill9-kernel.yaml"
    path.write_text(kernel_experiment(netns))
    ipt = IptablesFaults(workdir / "none", Runner(netns=netns))

    async def settle(kill: Kill, state: Path, run_id: str, killed_at: float) -> None:
        deadline = max((r.deadline for r in _store_faults(state, run_id)), default=killed_at)
        # no recover: the watchdog removes the rule at its deadline (bounded wait: a process state)
        while any(r.run_id == run_id for r in ipt.list_rules()) and time.time() < deadline + 30:
            await asyncio.sleep(0.05)
        kill.leftovers += [f"kernel rule {r.comment} after its deadline" for r in ipt.list_rules()
                           if r.run_id == run_id]
        kill.time_to_clean_s = max(0.0, time.time() - max(deadline, killed_at))
        await _recover(kill, state, env)

    return await _round("kernel", KERNEL_PHASES, path, "kk", index, rng, workdir, env, settle)


def _store_faults(state: Path, run_id: str) -> list[Any]:
    from chaos.clients.state import StateStore

    if not (state / "state.db").exists():
        return []
    store = StateStore(state)
    try:
        return store.faults(run_id)
    finally:
        store.close()


async def run(rounds: int, seed: int, workdir: Path, kernel: bool = True) -> list[Kill]:
    from chaos.clients.host.netns import temporary_netns
    from chaos.demo.prometheus import PrometheusServer
    from chaos.demo.stack import DemoStack

    print(f"kill -9 harness: seed {seed}, {rounds} round(s)", flush=True)
    rng = random.Random(seed)
    kills: list[Kill] = []
    hook = Webhook()
    await hook.start()
    try:
        async with DemoStack(start_load=False) as stack, PrometheusServer(scrape_interval="1s") as prom:
            env = {**os.environ, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
                   "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                   "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, "AFTERSHOCK_PROMETHEUS_URL": prom.url,
                   "KILL9_WEBHOOK": hook.url}
            for index in range(rounds):
                kills += await proxy_round(rng, workdir, env, stack, hook, index)
        if kernel:
            with temporary_netns("kill9", veth=True) as inside:
                assert inside.netns is not None
                for index in range(rounds):
                    kills += await kernel_round(rng, workdir, dict(os.environ), inside.netns, index)
    finally:
        await hook.stop()
    return kills


def summary(kills: list[Kill], seed: int) -> dict[str, Any]:
    return {"seed": seed, "kills": len(kills), "with_leftovers": sum(1 for k in kills if k.leftovers),
            "leftovers": [lo for k in kills for lo in k.leftovers],
            "worst_time_to_clean_s": {t: round(max((k.time_to_clean_s for k in kills if k.target == t),
                                                   default=0.0), 3) for t in ("proxy", "kernel")},
            "last_event_seen": sorted({f"{k.target}/{k.phase}: {k.last_event}" for k in kills})}


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-kernel", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    kernel = not args.no_kernel and os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="aftershock-kill9-") as tmp:
        kills = asyncio.run(run(args.rounds, seed, Path(tmp), kernel=kernel))
    print(json.dumps(summary(kills, seed), indent=2))


if __name__ == "__main__":
    main()
