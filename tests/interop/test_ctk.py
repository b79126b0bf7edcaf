"""Chaos Toolkit interop: our experiments in CTK's format pass chaoslib's own validation, the
extension's probe runs through chaoslib against a real Prometheus, and a real run's journal has
CTK's journal shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib.activity import run_activity
from chaoslib.experiment import ensure_experiment_is_valid
from harness.experiments import proxy_delay_experiment, slo

from chaos.demo.prometheus import PrometheusServer
from chaos.engine.driver import Engine, EngineSettings
from chaos.interop.ctk import to_ctk_experiment
from chaos.loading import load_file, load_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "experiments").glob("*.yaml"))


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_a_valid_chaos_toolkit_experiment(path: Path) -> None:
    ctk = to_ctk_experiment(load_file(path).experiment)
    ensure_experiment_is_valid(ctk)  # raises chaoslib's InvalidExperiment otherwise
    assert ctk["configuration"]["aftershock_experiment"]["metadata"]["name"] == path.stem


def test_the_slo_probe_runs_through_chaoslib_against_prometheus(prom: PrometheusServer) -> None:
    text = (REPO / "experiments" / "payment-latency.yaml").read_text()
    exp = load_text(text.replace("{{ env.AFTERSHOCK_PROMETHEUS_URL | default('http://127.0.0.1:9090') }}", prom.url)).experiment
    ctk = to_ctk_experiment(exp)
    probe = ctk["steady-state-hypothesis"]["probes"][0]
    configuration = {"aftershock_prometheus_url": prom.url,
                     "aftershock_monitor": ctk["configuration"]["aftershock_monitor"]}
    for query, expected in (("vector(0.2)", True), ("vector(2)", False), ("vector(0) / 0", False)):
        probe["provider"]["arguments"]["query"] = query
        assert run_activity(probe, configuration, {}) is expected, query


async def test_a_run_journal_has_the_chaos_toolkit_shape(prom: PrometheusServer, tmp_path: Path) -> None:
    # spawning the run-owned proxy takes a while on a loaded machine: a 5 s fault
    loaded = load_text(proxy_delay_experiment("ctk-journal", prom.url, [slo("up", "vector(1)", "==", 1)], duration="5s",
                                              steadyState=["up"]),
                       "ctk-journal.yaml")
    engine = Engine(EngineSettings(state_dir=tmp_path))
    finished = await engine.run(loaded)
    assert finished.verdict == "passed", finished.reason
    journal = engine.journal(finished.run_id)
    assert {"status", "deviated", "start", "end", "duration", "steady_states", "run", "rollbacks",
            "experiment"} <= set(journal)
    assert journal["status"] == "completed" and journal["deviated"] is False
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    assert [a["activity"]["name"] for a in journal["run"]] == ["inject-slow"]
    assert [a["activity"]["name"] for a in journal["rollbacks"]] == ["remove-slow"]
    ensure_experiment_is_valid(journal["experiment"])

    # Chaos Toolkit's own reporting (chaostoolkit-reporting, `chaos report`) reads it
    import chaosreport

    report = chaosreport.generate_report(copy.deepcopy(journal), "markdown")
    assert "ctk-journal" in report and "completed" in report
    assert "| up " in report  # the steady-state probe, before and after


def test_probes_use_the_monitors_auth_settings(prom: PrometheusServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaoslib.exceptions import ActivityFailed

    from chaos.interop.ctk_probes import slo_holds, slo_value

    assert slo_value("vector(0.25)", prometheus=prom.url) == 0.25
    assert slo_holds("vector(0.25)", "<", 1, prometheus=prom.url) is True
    monkeypatch.delenv("CTK_TEST_TOKEN", raising=False)
    with pytest.raises(ActivityFailed, match="CTK_TEST_TOKEN is not set"):
        slo_holds("vector(1)", "==", 1, prometheus=prom.url, monitor={"bearerTokenEnv": "CTK_TEST_TOKEN"})
    monkeypatch.setenv("CTK_TEST_TOKEN", "s3cret")  # sent as a bearer token; Prometheus ignores it
    assert slo_holds("vector(1)", "==", 1, prometheus=prom.url, monitor={"bearerTokenEnv": "CTK_TEST_TOKEN"})
    # unreachable (here: TLS to a plain-HTTP server) is not "holds": fail closed
    assert slo_holds("vector(1)", "==", 1, prometheus=prom.url.replace("http:", "https:"),
                     monitor={"insecure": True, "timeout": "2s"}) is False


def test_header_values_never_reach_the_exported_document(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from chaos.interop.ctk_import import convert
    from chaos.interop.ctk_runtime import monitor_spec

    monkeypatch.setenv("TENANT_SECRET", "tenant-s3cret")
    text = (REPO / "experiments" / "payment-latency.yaml").read_text().replace(
        "  monitor:\n", "  monitor:\n    headers: {X-Scope-OrgID: \"{{ env.TENANT_SECRET }}\"}\n", 1)
    exp = load_text(text, "headers.yaml").experiment
    header = exp.spec.monitor.headers["X-Scope-OrgID"]
    assert str(header) == "***" and header.reveal() == "tenant-s3cret"  # a Secret from the moment it is read
    ctk = to_ctk_experiment(exp)
    assert "tenant-s3cret" not in json.dumps(ctk)
    monitor = ctk["configuration"]["aftershock_monitor"]
    with pytest.raises(Exception, match="AFTERSHOCK_PROMETHEUS_HEADER_X_SCOPE_ORGID"):
        monitor_spec(monitor, environ={})
    spec = monitor_spec(monitor, environ={"AFTERSHOCK_PROMETHEUS_HEADER_X_SCOPE_ORGID": "from-env"})
    assert {k: v.reveal() for k, v in spec.headers.items()} == {"X-Scope-OrgID": "from-env"}
    back = convert(ctk).experiment["spec"]["monitor"]["headers"]
    assert back == {"X-Scope-OrgID": "{{ env.AFTERSHOCK_PROMETHEUS_HEADER_X_SCOPE_ORGID }}"}


@pytest.mark.parametrize(("journal", "verdict"), [
    ({"status": "completed", "deviated": False, "steady_states": {"before": {"steady_state_met": True}}}, "passed"),
    ({"status": "completed", "deviated": True, "steady_states": {
        "before": {"steady_state_met": True},
        "after": {"steady_state_met": False, "probes": [
            {"activity": {"name": "p95"}, "tolerance_met": True},
            {"activity": {"name": "slos-held-during-run"}, "tolerance_met": False}]}}}, "deviated"),
    ({"status": "completed", "deviated": True, "steady_states": {
        "before": {"steady_state_met": True},
        "after": {"steady_state_met": False, "probes": [{"activity": {"name": "p95"}, "tolerance_met": False}]}}},
     "failed"),
    ({"status": "completed", "deviated": False, "steady_states": {"before": {"steady_state_met": False}}},
     "unsteady"),
    ({"status": "interrupted", "deviated": False, "steady_states": {}}, "aborted"),
])
def test_the_guard_reads_aftershocks_verdict_from_a_chaos_toolkit_journal(journal: dict[str, object],
                                                                           verdict: str) -> None:
    from chaos.interop.ctk_guard import verdict_of

    assert verdict_of(journal) == verdict
