"""``aftershock gameday run`` through the real engine: host experiments with run-owned fault proxies
on loopback, SLOs answered by a real Prometheus; serial with stopOn, parallel; the report (score,
formula, trend, skips) and the notifications a local webhook receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from harness.experiments import proxy_delay_experiment, slo

from chaos.cli import main
from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                owner.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def write(tmp_path: Path, prom: PrometheusServer, hook: Hook, mode: str, values: list[str],
          stop_on: str = "[failed, aborted, unsteady]") -> Path:
    refs = []
    for i, value in enumerate(values):
        name = f"exp{i}"
        (tmp_path / f"{name}.yaml").write_text(proxy_delay_experiment(
            name, prom.url, [slo("latency", f"vector({value})", "<", 0.5)],
            description=f"{name} holds", steadyState=["latency"], recovery={"timeout": "2s"}))
        refs.append(f"    - file: {name}.yaml")
    gd = tmp_path / "gd.yaml"
    gd.write_text(f"""apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {{name: drill}}
spec:
  experiments:
{chr(10).join(refs)}
  mode: {mode}
  pause: 200ms
  stopOn: {stop_on}
  notify: [{{url: "{hook.url}"}}]
""")
    return gd


def run(gd: Path, state: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["gameday", "run", str(gd), "--state-dir", str(state)])
    return result.exit_code, result.output


def test_serial_game_day_stops_on_a_verdict_and_reports(tmp_path: Path, prom: PrometheusServer, hook: Hook) -> None:
    gd = write(tmp_path, prom, hook, "serial", ["0.1", "0.9", "0.1"])
    state = tmp_path / "state"
    code, out = run(gd, state)
    assert code == 1, out  # unsteady is the worst verdict
    assert "exp0: passed" in out and "exp1: unsteady" in out and "exp2" not in out.split("game day drill")[1]
    assert "game day drill: unsteady, resilience score 100" in out  # exp1 injected nothing: excluded
    html = Path(out.split("report: ")[1].split("\n")[0])
    md = Path(out.split("report (markdown): ")[1].split("\n")[0])
    assert html.parent == state / "gamedays" / "drill" and html.suffix == ".html"
    text = md.read_text()
    assert "score = int(100 · (T − L) / T)" in text and "Σ wᵢ·PSPᵢ / Σ wᵢ" in text
    assert "exp1/latency: the experiment injected nothing (verdict unsteady)" in text
    assert "stopped early: exp1 ended unsteady (stopOn): 1 experiment(s) not run" in text
    assert "Hypothesis: exp0 holds. Steady state (latency < 0.5) holds before and after slow (network-delay)" in text
    assert "<svg" in html.read_text()  # the run report's SLO plot
    assert [b["event"] for b in hook.bodies] == ["started", "finished"]
    assert hook.bodies[1]["verdict"] == "unsteady" and hook.bodies[1]["score"] == 100
    assert hook.bodies[1]["report"] == str(html)
    # the second game day shows the first in its trend; nothing is left live
    code, out = run(gd, state)
    md2 = Path(out.split("report (markdown): ")[1].split("\n")[0])
    assert "| unsteady | 100 |" in md2.read_text()
    assert StateStore(state).faults(live_only=True) == []
    fires = ScheduleStore(state).fires("drill")
    assert [(f.trigger, f.state, f.verdict) for f in fires] == [("manual", "finished", "unsteady")] * 2


def test_parallel_game_day(tmp_path: Path, prom: PrometheusServer, hook: Hook) -> None:
    gd = write(tmp_path, prom, hook, "parallel", ["0.1", "0.2"])
    code, out = run(gd, tmp_path / "state")
    assert code == 0, out
    assert "game day drill: passed, resilience score 100" in out
    runs = StateStore(tmp_path / "state").runs()
    assert sorted(r.experiment for r in runs) == ["exp0", "exp1"]
    a, b = sorted(runs, key=lambda r: r.started)
    assert b.started < (a.ended or 0)  # they overlapped
