"""``aftershock gameday serve`` end to end on the demo stack: a real per-minute schedule fires, the
game day runs through the real engine against real Prometheus and the demo's fault proxy, the
report is written, the metrics and /healthz answer, a changed folder is reloaded; the next fire is
aborted by SIGTERM mid-fault (faults removed first); nothing is left behind (processes, faults)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.demo.stack import DemoStack
from chaos.loading import load_file
from chaos.slo.monitoring import Monitor

from .helpers import REPO, Cli, aftershock

pytestmark = pytest.mark.e2e

GAMEDAY = """apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {name: minutely}
spec:
  schedule: {cron: "* * * * *", timezone: Europe/Berlin, concurrency: Forbid}
  experiments:
    - file: %(exp)s
      set: {duration: 20s}
"""


@pytest.fixture
async def demo(audit: object) -> AsyncIterator[tuple[DemoStack, PrometheusServer]]:
    async with DemoStack(load_rate=20.0) as stack, PrometheusServer(stack.scrape_targets(),
                                                                     scrape_interval="1s") as prom:
        yield stack, prom


async def line(cli: Cli, text: str, timeout: float) -> str:
    async def wait() -> str:
        while True:
            for got in cli.lines:
                if text in got:
                    return got
            if cli._reader is not None and cli._reader.done():
                raise AssertionError(f"serve exited without {text!r}: {cli.lines[-20:]} {cli.stderr[-2000:]}")
            cli._new.clear()
            await cli._new.wait()
    return await asyncio.wait_for(wait(), timeout)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


@pytest.mark.timeout(400)
async def test_serve_runs_a_schedule_end_to_end_and_leaves_nothing(
        tmp_path: Path, demo: tuple[DemoStack, PrometheusServer]) -> None:
    stack, prom = demo
    env = {"AFTERSHOCK_PROMETHEUS_URL": prom.url, "AFTERSHOCK_DEMO_PROXY_LISTEN": stack.endpoints.proxy,
           "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
           "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, "AFTERSHOCK_DEMO_ORDER_URL": stack.order_url}
    exp = REPO / "experiments" / "demo-payment-latency.yaml"
    loaded = load_file(exp, environ={**os.environ, **env})
    slos = [loaded.experiment.spec.slo(n) for n in loaded.experiment.spec.steady_state]
    async with Monitor(loaded.experiment.spec.monitor) as monitor:  # warm-up: the steady state has data
        for _ in range(60):
            if all(v.holds for v in (await monitor.evaluate_now(slos)).verdicts if v.slo != "monitor"):
                break
            await asyncio.sleep(1.0)  # Prometheus scrapes every second: no event to await
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "minutely.yaml").write_text(GAMEDAY % {"exp": exp})
    state = tmp_path / "state"
    cli = await Cli.start("gameday", "serve", str(schedules), "--state-dir", str(state), "--listen", "127.0.0.1:0",
                          "--poll", "0.5", env=env)
    try:
        where = await line(cli, "metrics and /healthz on ", 30)
        base = where.split(" on ")[-1].strip()
        health = json.loads(get(f"{base}/healthz"))
        assert health["ok"] and health["schedules"] == ["minutely"]
        done = await line(cli, "game day minutely (", 150)
        assert ": deviated, score " in done, cli.lines[-30:]  # latency breached, the rollback recovered
        report = Path(done.rsplit("report ", 1)[1])
        assert report.is_file() and report.parent == state / "gamedays" / "minutely"
        assert "policy fast-rollback fired → rollback" in "\n".join(cli.lines)
        metrics = get(f"{base}/metrics")
        assert 'aftershock_runs_total{verdict="deviated"} 1.0' in metrics
        assert 'aftershock_policy_actions_total{action="rollback"} 1.0' in metrics
        assert 'aftershock_schedule_next_fire_timestamp_seconds{schedule="minutely"}' in metrics
        assert "aftershock_schedule_lag_seconds_count 1.0" in metrics
        assert "aftershock_faults_active 0.0" in metrics
        # a new file in the folder is picked up
        (schedules / "other.yaml").write_text((GAMEDAY % {"exp": exp}).replace("minutely", "other").replace(
            '"* * * * *"', '"0 3 * * *"'))
        await line(cli, "reloaded: 2 schedule(s): minutely, other", 30)
        # the next fire: SIGTERM while its fault is live aborts it, faults removed first
        injected = sum("injected payment-delay" in x for x in cli.lines)
        while sum("injected payment-delay" in x for x in cli.lines) == injected:
            cli._new.clear()
            await asyncio.wait_for(cli._new.wait(), 90)
        cli.signal(signal.SIGTERM)
        assert await cli.wait(60) == 0, cli.stderr[-2000:]
        assert "gameday serve: stopped" in cli.lines[-1]
    finally:
        await cli.kill()
    assert StateStore(state).faults(live_only=True) == []
    fires = ScheduleStore(state).fires("minutely", states=("finished",))
    assert [f.verdict for f in fires] == ["aborted", "deviated"]
    code, out, _ = await aftershock("gameday", "list", "-o", "json", "--state-dir", str(state))
    listed = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and listed["minutely"]["last"]["verdict"] == "aborted"
    async with ProxyAdminClient(stack.proxy_admin_url, stack.proxy_token) as admin:
        assert await admin.list_faults() == []
