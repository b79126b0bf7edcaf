"""Crash safety and user aborts of ``aftershock run`` mid-fault, against real faults.

- SIGKILL mid-fault leaves the fault in place (nothing can run in a killed process);
  ``aftershock recover`` finds it from the write-ahead record and removes it, and so does the
  next ``aftershock run`` at its start. Proxy faults through the demo's fault proxy, and an
  iptables partition inside a network namespace this test creates (never the host's).
- SIGINT / SIGTERM mid-fault: exit 130, verdict ``aborted``, the fault removed before the process
  exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness.experiments import (
    DEMO_PROXY,
    OWNED_PROXY_MIN_DURATION,
    delay,
    host_experiment,
    netns_port,
    owned_proxy,
    partition,
)

from chaos.clients.host import watchdog
from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.commands import Runner
from chaos.clients.host.iptables import IptablesFaults
from chaos.clients.host.netns import temporary_netns
from chaos.clients.state import StateStore
from chaos.demo.stack import DemoStack

from .helpers import Cli, aftershock, leftovers

pytestmark = pytest.mark.e2e


def proxy_experiment(name: str, duration: str) -> str:
    return host_experiment(name, [delay("slow-payments", DEMO_PROXY, duration, latency="500ms")])


def owned_proxy_experiment(duration: str = "60s") -> str:
    return host_experiment("kill-owned-proxy", [partition("refuse", owned_proxy(), duration)])


@pytest.fixture
async def stack(audit: object) -> AsyncIterator[DemoStack]:
    async with DemoStack(start_load=False) as running:
        yield running


def demo_env(stack: DemoStack) -> dict[str, str]:
    return {"AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
            "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
            "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token}


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def proxy_faults(stack: DemoStack) -> list[tuple[str, str]]:
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        return [(f.run_id, f.id) for f in await admin.list_faults()]


async def start_and_await_fault(path: Path, state: Path, env: dict[str, str]) -> tuple[Cli, str]:
    cli = await Cli.start("run", str(path), "--state-dir", str(state), "--output", "json", env=env)
    injected = await cli.event("FaultInjected", timeout=60)
    return cli, str(injected["run_id"])


async def test_sigkill_mid_fault_then_recover_removes_the_proxy_fault(stack: DemoStack, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = demo_env(stack)
    path = write(tmp_path, proxy_experiment("kill-proxy", "60s"))
    cli, run_id = await start_and_await_fault(path, state, env)
    cli.signal(signal.SIGKILL)
    assert await cli.wait(30) == -signal.SIGKILL
    assert cli.find("FaultRemoved") is None

    # the fault outlives the run: it is in the proxy, and live in the store of a dead run
    assert [r for r, _ in await proxy_faults(stack)] == [run_id]
    store = StateStore(state)
    (row,) = store.faults(live_only=True)
    assert (row.run_id, row.fault, row.state) == (run_id, "slow-payments", "injected")
    run = store.run(run_id)
    assert run is not None and not run.alive and run.verdict is None

    # history says it died, what it left, and where to go from there
    rc, out, _ = await aftershock("runs", "--state-dir", str(state))
    assert rc == 0 and f"{run_id}   kill-proxy" in out and " died " in out
    rc, out, _ = await aftershock("show", run_id, "--state-dir", str(state))
    assert rc == 0 and "died" in out and "fault slow-payments (network-delay): injected" in out
    assert "`aftershock recover` removes them" in out
    rc, _, err = await aftershock("report", run_id, "--state-dir", str(state), "--out", str(tmp_path / "r.html"))
    assert rc == 3 and "died before it finished" in err

    rc, out, _ = await aftershock("recover", "--state-dir", str(state), "--dry-run", env=env)
    assert rc == 0 and f"would remove {run_id}/slow-payments" in out
    assert [r for r, _ in await proxy_faults(stack)] == [run_id]

    rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)
    assert rc == 0, out + err
    assert f"✓ {run_id}/slow-payments" in out and "removed" in out
    assert await proxy_faults(stack) == []
    assert store.faults(live_only=True) == []
    rc, out, _ = await aftershock("recover", "--state-dir", str(state), env=env)
    assert (rc, out.strip()) == (0, "nothing to recover: no live fault of a dead run")
    store.close()
    # (no process left behind: the ``audit`` fixture checks once the demo stack is stopped)


async def test_sigkill_mid_fault_then_the_next_run_recovers_first(stack: DemoStack, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = demo_env(stack)
    cli, dead_run = await start_and_await_fault(
        write(tmp_path, proxy_experiment("kill-proxy", "60s")), state, env)
    cli.signal(signal.SIGKILL)
    await cli.wait(30)
    assert [r for r, _ in await proxy_faults(stack)] == [dead_run]

    short = write(tmp_path, proxy_experiment("next-run", "1s"), "next.yaml")
    cli = await Cli.start("run", str(short), "--state-dir", str(state), "--output", "json", env=env)
    preflight = await cli.event("PreflightPassed", timeout=60)
    assert preflight["checks"][0] == "recovered 1 fault(s) left by dead runs"
    # recovered before the new run injects anything
    assert dead_run not in [r for r, _ in await proxy_faults(stack)]
    assert await cli.wait(60) == 0
    assert cli.final["verdict"] == "passed"
    assert await proxy_faults(stack) == []
    store = StateStore(state)
    assert store.faults(live_only=True) == []
    store.close()


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces and iptables")
async def test_sigkill_mid_partition_then_recover_removes_the_rule(audit: object, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with temporary_netns("e2e", veth=True) as netns:
        assert netns.netns is not None
        rules = IptablesFaults(state / "watchdogs", Runner(netns=netns.netns))
        try:
            path = write(tmp_path, host_experiment("kill-partition", [partition("cut", netns_port(8080, str(netns.netns)), "60s")]))
            cli, run_id = await start_and_await_fault(path, state, {})
            cli.signal(signal.SIGKILL)
            assert await cli.wait(30) == -signal.SIGKILL
            # the rule and its deadline watchdog outlive the run
            assert [r.comment for r in rules.list_rules()] == [f"aftershock:{run_id}:cut"]
            assert [pid for _, pid in watchdog.pending(state / "watchdogs", run_id)]

            rc, out, err = await aftershock("recover", "--state-dir", str(state))
            assert rc == 0, out + err
            assert f"✓ {run_id}/cut" in out
            assert rules.list_rules() == []  # at once: recover is done when it exits
            assert watchdog.pending(state / "watchdogs") == []
            store = StateStore(state)
            assert store.faults(live_only=True) == []
            store.close()
            rc, out, _ = await aftershock("recover", "--state-dir", str(state))
            assert out.strip() == "nothing to recover: no live fault of a dead run"
        finally:
            for rule in rules.list_rules():
                rules.remove(rule)
            for pid_file, pid in watchdog.pending(state / "watchdogs"):
                os.kill(pid, signal.SIGTERM)
                pid_file.unlink(missing_ok=True)
    assert leftovers() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_interrupt_mid_fault_aborts_and_removes_the_fault_first(stack: DemoStack, tmp_path: Path,
                                                                      signum: int) -> None:
    state = tmp_path / "state"
    path = write(tmp_path, proxy_experiment("interrupt-me", "60s"))
    cli, run_id = await start_and_await_fault(path, state, demo_env(stack))
    assert [r for r, _ in await proxy_faults(stack)] == [run_id]
    cli.signal(signum)
    cli.signal(signum)  # a second Ctrl-C does not skip cleanup
    assert await cli.wait(60) == 130
    assert "aborting: removing faults first" in cli.stderr
    final = cli.final
    assert (final["verdict"], final["exit_code"]) == ("aborted", 130)
    removed = cli.find("FaultRemoved")
    assert removed is not None and removed["reason"] == "abort"
    assert cli.index("FaultRemoved") < cli.index("RunFinished")
    # the process has exited: whatever it removed, it removed before
    assert await proxy_faults(stack) == []
    store = StateStore(state)
    assert store.faults(live_only=True) == []
    row = store.run(run_id)
    assert row is not None and row.verdict == "aborted" and row.exit_code == 130
    store.close()


async def test_sigkill_with_a_run_owned_proxy_then_recover_stops_the_proxy(tmp_path: Path, audit: object) -> None:
    state = tmp_path / "state"
    path = write(tmp_path, owned_proxy_experiment())
    cli, run_id = await start_and_await_fault(path, state, {})
    cli.signal(signal.SIGKILL)
    await cli.wait(30)
    # the run's own proxy outlived it (adopted by this test), its fault still in it
    proxies = [p for p in leftovers() if "chaos.clients.host.proxy" in p.cmdline]
    assert len(proxies) == 1
    store = StateStore(state)
    (row,) = store.faults(live_only=True)
    proxy = row.realisation["proxy"]
    assert proxy["pid"] == proxies[0].pid
    async with ProxyAdminClient(proxy["admin"], Path(proxy["token_file"]).read_text()) as admin:
        assert [f.run_id for f in await admin.list_faults()] == [run_id]

    rc, out, err = await aftershock("recover", "--state-dir", str(state))
    assert rc == 0, out + err
    assert f"✓ {run_id}/refuse" in out
    assert store.faults(live_only=True) == []
    assert not Path(proxy["token_file"]).exists()
    store.close()
    # recover sent SIGTERM: the proxy exits (a process state: bounded poll)
    for _ in range(100):
        if not [p for p in leftovers() if p.pid == proxy["pid"]]:
            break
        await asyncio.sleep(0.05)
    assert leftovers() == []


async def test_run_with_a_run_owned_proxy_leaves_nothing_behind(tmp_path: Path, audit: object) -> None:
    state = tmp_path / "state"
    path = write(tmp_path, owned_proxy_experiment(OWNED_PROXY_MIN_DURATION))
    cli = await Cli.start("run", str(path), "--state-dir", str(state), "--output", "json")
    assert await cli.wait(60) == 0, cli.stderr
    assert cli.final["verdict"] == "passed"
    assert [e["reason"] for e in cli.events if e["event"] == "FaultRemoved"] == ["end"]
    assert list(state.glob("proxy-*.token")) == []
    assert leftovers() == []
