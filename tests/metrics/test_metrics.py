"""Aftershock's metrics follow Prometheus' conventions (``promtool check metrics`` on what the
scheduler and the fault proxy expose), skip reasons stay distinct from ``missed``, and a run or a
game day pushes its metrics to a real Pushgateway (Debian's ``prometheus-pushgateway``, started
here on a free loopback port)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.experiments import proxy_delay_experiment, slo
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaos.clients.host.admin import AdminServer, MetricsServer
from chaos.clients.host.metrics import ProxyMetrics
from chaos.clients.host.proxy import FaultProxy
from chaos.clients.host.specs import Upstream
from chaos.demo.prometheus import free_port
from chaos.demo.pushgateway import PushgatewayServer
from chaos.engine import events as ev
from chaos.gameday.metrics import Metrics
from chaos.version import __version__

BIN = Path(sys.executable).parent / "aftershock"


def promtool(exposition: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "check", "metrics"], input=exposition.decode(), capture_output=True,
                          text=True, timeout=60, check=False)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def test_scheduler_metrics_pass_promtool_and_say_what_they_count() -> None:
    m = Metrics()
    m.scheduled("checkout", 1_800_000_000.0)
    m.skipped("checkout", "missed: the scheduler was not running at its due time", 3)
    m.skipped("checkout", "schedule paused")
    m.finished("checkout", "passed", 42.0, 80, 1_800_000_100.0)
    m.finished("checkout", "deviated", 40.0, 60, 1_800_000_200.0)
    m.on_event(ev.RunFinished(run_id="r1", at=0.0, verdict="passed", exit_code=0))
    text = generate_latest(m.registry)
    done = promtool(text)
    assert done.returncode == 0, done.stdout + done.stderr
    got = samples(text.decode())
    assert got[("aftershock_schedule_skipped_total", (("reason", "missed"), ("schedule", "checkout")))] == 3
    assert got[("aftershock_schedule_skipped_total", (("reason", "paused"), ("schedule", "checkout")))] == 1
    assert got[("aftershock_schedule_skipped_total", (("reason", "gate"), ("schedule", "checkout")))] == 0
    assert got[("aftershock_run_duration_seconds_count", (("schedule", "checkout"),))] == 2
    assert got[("aftershock_last_success_timestamp_seconds", (("schedule", "checkout"),))] == 1_800_000_100.0
    assert got[("aftershock_resilience_score", (("schedule", "checkout"),))] == 60
    assert got[("aftershock_gamedays_total", (("schedule", "checkout"), ("verdict", "deviated")))] == 1
    assert got[("aftershock_runs_total", (("verdict", "passed"),))] == 1
    build = [k for k in got if k[0] == "aftershock_build_info"]
    assert len(build) == 1 and ("version", __version__) in build[0][1]
    help_texts = {f.name: f.documentation for f in text_string_to_metric_families(text.decode())}
    assert "game day" not in help_texts["aftershock_runs"].lower()  # it counts experiment runs only


def test_fault_proxy_metrics_pass_promtool_and_share_the_active_faults_name() -> None:
    p = ProxyMetrics()
    p.connections.labels(upstream="payment").inc()
    p.active.labels(kind="latency").set(1)
    p.request_count("payment", "200").inc()
    text = p.render()
    done = promtool(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert samples(text.decode())[("aftershock_faults_active", (("kind", "latency"),))] == 1
    assert "aftershock_faults_active" in generate_latest(Metrics().registry).decode()


async def test_fault_proxy_serves_its_metrics_on_the_admin_and_metrics_ports() -> None:
    """``/metrics`` of both listeners answers without the admin token, from handlers aiohttp takes as
    they are (a plain function is deprecated there: the warning is an error here)."""
    async with FaultProxy(("127.0.0.1", 0), [Upstream("gw", "127.0.0.1", 9)]) as proxy:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            sites = [AdminServer(proxy, ("127.0.0.1", 0), "t" * 32), MetricsServer(proxy, ("127.0.0.1", 0))]
        for site in sites:
            await site.start()
        try:
            for site in sites:
                text = await asyncio.to_thread(_scrape, f"http://127.0.0.1:{site.address[1]}")
                assert promtool(text.encode()).returncode == 0
                assert "aftershock_faults_active" in text
        finally:
            for site in sites:
                await site.close()


@pytest.fixture
def pushgateway() -> Iterator[str]:
    with PushgatewayServer() as server:
        yield server.url


def _scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def test_run_pushes_its_metrics_to_the_pushgateway(pushgateway: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # Prometheus down: the run ends before injecting anything
    path = tmp_path / "pushed.yaml"
    path.write_text(proxy_delay_experiment("pushed", dead, [slo("up", "up", ">", 0)]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSHOCK_")}
    env.update(AFTERSHOCK_STATE_DIR=str(tmp_path / "state"), AFTERSHOCK_PUSHGATEWAY_URL=pushgateway)
    done = subprocess.run([str(BIN), "run", str(path), "-o", "json"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0, done.stderr
    assert "cannot push" not in done.stderr
    scraped = _scrape(pushgateway)
    got = samples(scraped)
    pushed = {k: v for k, v in got.items() if ("experiment", "pushed") in k[1] and ("job", "aftershock") in k[1]}
    runs = [(dict(k[1])["verdict"], v) for k, v in pushed.items() if k[0] == "aftershock_runs_total"]
    assert len(runs) == 1 and runs[0][1] == 1
    assert any(k[0] == "aftershock_run_duration_seconds_count" and v == 1 for k, v in pushed.items())
    assert any(k[0] == "aftershock_build_info" for k in pushed)
    assert not any(k[0] == "aftershock_last_success_timestamp_seconds" for k in pushed)  # it did not pass


def test_an_unreachable_pushgateway_is_a_warning_not_a_verdict(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert Metrics().push(dead, {"experiment": "x"}).startswith(f"cannot push metrics to {dead}")
