"""Mitigations outlive a SIGKILLed run only until ``aftershock recover``.

A circuit-break sets the payment gateway's weight to 0 and a degrade switches orders to the
backup channel; both are mitigations, not faults, but a crashed run must not leave them in
place either. The driver keeps an undo plan in the state store; ``recover`` reverts it. Real
demo services, real Prometheus, real faults.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.state import StateStore
from chaos.commands.demo import _warm_up
from chaos.demo.prometheus import PrometheusServer
from chaos.demo.stack import DemoStack
from chaos.loading import load_file

from .helpers import REPO, Cli, aftershock

pytestmark = pytest.mark.e2e


@pytest.fixture
async def demo(audit: object) -> AsyncIterator[tuple[DemoStack, dict[str, str]]]:
    from chaos.demo.alertmanager import AlertmanagerServer

    # a real Alertmanager: the circuit-break demo silences the alert it expects there (write-ahead,
    # expired by `recover` after a kill like the faults)
    with AlertmanagerServer() as alertmanager:
        async with DemoStack(load_rate=25.0) as stack, \
                PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
            env = {"AFTERSHOCK_PROMETHEUS_URL": prom.url, "AFTERSHOCK_ALERTMANAGER_URL": alertmanager.url,
                   "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
                   "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                   "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, "AFTERSHOCK_DEMO_ORDER_URL": stack.order_url}
            yield stack, env


async def _kill_after(scenario: str, env: dict[str, str], state_dir: Path, event: str, **match: object) -> str:
    path = REPO / "experiments" / scenario
    await _warm_up(load_file(path, environ=env), env)
    cli = await Cli.start("run", str(path), "--state-dir", str(state_dir), "--output", "json", env=env)
    seen = await cli.event(event, timeout=90, **match)
    cli.signal(signal.SIGKILL)
    assert await cli.wait(30) == -signal.SIGKILL
    return str(seen["run_id"])


async def test_recover_restores_a_weight_left_at_zero_by_a_killed_circuit_break(
        demo: tuple[DemoStack, dict[str, str]], tmp_path: Path) -> None:
    stack, env = demo
    state = tmp_path / "state"
    await _kill_after("demo-circuit-break.yaml", env, state, "BreakerChanged", state="open")
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        assert (await admin.weights())["payment-gateway"] == 0
        rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)
        assert rc == 0, out + err
        assert "weight of payment-gateway restored to 100" in out
        assert (await admin.weights())["payment-gateway"] == 100
        assert await admin.list_faults() == []
    rc, out, _ = await aftershock("recover", "--state-dir", str(state), env=env)
    assert (rc, out.strip()) == (0, "nothing to recover: no live fault of a dead run")
    store = StateStore(state)
    assert store.faults(live_only=True) == []
    store.close()


async def test_recover_reverts_a_degrade_left_by_a_killed_run(
        demo: tuple[DemoStack, dict[str, str]], tmp_path: Path) -> None:
    stack, env = demo
    state = tmp_path / "state"
    await _kill_after("demo-degrade.yaml", env, state, "ActionApplied", action="degrade")
    async with httpx.AsyncClient() as http:
        assert (await http.get(stack.fallback_url)).json()["channel"] == "backup"
        rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)
        assert rc == 0, out + err
        assert "reverted (POST" in out
        assert (await http.get(stack.fallback_url)).json()["channel"] == "primary"



async def test_a_killed_circuit_break_is_undone_by_its_deadline_without_recover(
        demo: tuple[DemoStack, dict[str, str]], tmp_path: Path) -> None:
    """kill -9 mid-mitigation: the weight stays at 0 while the run's fault may still be live, then the
    run's undo watchdog (armed with the write-ahead record) restores it at the plan's deadline — the
    fault window, the recovery wait, openFor and a margin — with nobody running ``recover``."""
    import asyncio
    import time

    from chaos.targets.undo_watchdog import log_path, pid_path

    stack, env = demo
    state = tmp_path / "state"
    text = (REPO / "experiments" / "demo-circuit-break.yaml").read_text()
    short = tmp_path / "short-circuit-break.yaml"
    short.write_text(text.replace("duration: 25s", "duration: 6s").replace("recovery: {timeout: 40s}",
                                                                         "recovery: {timeout: 5s}"))
    await _warm_up(load_file(short, environ=env), env)
    cli = await Cli.start("run", str(short), "--state-dir", str(state), "--output", "json", env=env)
    run_id = str((await cli.event("BreakerChanged", timeout=90, state="open"))["run_id"])
    cli.signal(signal.SIGKILL)
    assert await cli.wait(30) == -signal.SIGKILL
    store = StateStore(state)
    (plan,) = [p for p in store.undo_plans() if p.run_id == run_id]
    deadline = min(float(i["deadline"]) for i in plan.items)
    assert deadline - time.time() > 20  # bounded by the run (6s + 5s + openFor 8s + 30s), not now
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        assert (await admin.weights())["payment-gateway"] == 0  # not undone while the fault may be live
        while (await admin.weights())["payment-gateway"] != 100:  # awaited: the watchdog is another process
            assert time.time() < deadline + 30, "the weight was never restored without recover"
            await asyncio.sleep(0.5)
    assert time.time() >= deadline
    assert [p.state for p in store.undo_plans(pending_only=False) if p.run_id == run_id] == ["done"]
    store.close()
    assert "deadline passed: weight of payment-gateway restored to 100" in log_path(state, run_id).read_text()
    end = time.monotonic() + 10
    while pid_path(state, run_id).exists():  # the watchdog is gone once its plan is done
        assert time.monotonic() < end, "the undo watchdog did not exit"
        await asyncio.sleep(0.2)
    rc, out, err = await aftershock("recover", "--state-dir", str(state), env=env)  # the silence, if left
    assert rc == 0, out + err
    assert "weight of payment-gateway" not in out
