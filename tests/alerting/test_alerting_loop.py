"""The alerting loop against a real Alertmanager: the experiment's expected alerts are silenced for the
fault window (recorded write-ahead, expired at the end, or by ``recover`` after a crash), and what no
policy answers is sent as alerts with the run's labels and a link to its report."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chaos.clients.alertmanager import AlertmanagerClient
from chaos.clients.state import StateStore
from chaos.demo.alertmanager import AlertmanagerServer
from chaos.engine import events as ev
from chaos.errors import InvalidExperiment
from chaos.loading import load_text
from chaos.model.alerting import parse_matcher
from chaos.targets import silences
from chaos.targets.recovery import recover_faults

sys.path.insert(0, str(Path(__file__).parents[1] / "tui"))
from world import WorldEngine

EXPERIMENT = """
apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: alert-drill, labels: {team: checkout}}
spec:
  target: {type: host}
  faults:
    - name: delay
      type: network-delay
      selector: {proxy: {listen: "127.0.0.1:18099", upstream: "127.0.0.1:9"}}
      latency: 500ms
      duration: 20s
  slos:
    - name: unwatched-p95          # the same query as checkout-p95, and no policy of its own
      query: p95
      objective: {op: "<", value: 0.8}
    - name: checkout-p95
      query: p95
      objective: {op: "<", value: 0.8}
  policies:
    - name: tell
      when: {slo: checkout-p95}
      action: notify
      with: {url: "http://127.0.0.1:9/hook"}
  monitor: {prometheus: "http://127.0.0.1:9", interval: 1s}
  recovery: {timeout: 5s}
  alerting:
    alertmanager: "%(url)s"
    silence: ['alertname="CheckoutLatencyHigh"', 'team=~"check.*"']
    labels: {severity: page}
    reportUrl: "https://aftershock.example/runs/{run_id}"
"""


def _names(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["alertname"]: a for a in alerts}


async def _wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_expected_alerts_silenced_for_the_run_and_unanswered_breach_alerted(
        alertmanager: AlertmanagerServer, tmp_path: Path) -> None:
    loaded = load_text(EXPERIMENT % {"url": alertmanager.url}, source="drill.yaml")
    engine = WorldEngine(tmp_path / "state", pause_at=6.0)
    engine.world.clock.origin = time.time()  # Alertmanager refuses silences that end in the past
    events: list[ev.RunEvent] = []
    engine.subscribe(events.append)
    run_id = await engine.launch(loaded)
    async with AlertmanagerClient(alertmanager.url) as am:
        await _wait_for(lambda: asyncio.sleep(0, engine.paused()), "the run to pause mid-window")
        # during the fault window: the expected alert is silenced, the run's silence is ours and recorded
        row = engine.store.fault(run_id, silences.FAULT_NAME)
        assert row is not None and row.state == "injected" and row.kind == silences.KIND
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        await am.post_alerts([{"labels": {"alertname": "CheckoutLatencyHigh", "team": "checkout"}, "startsAt": now}])
        expected = await _wait_for(lambda: _alert(am, "CheckoutLatencyHigh"), "the expected alert")
        assert expected["status"]["state"] == "suppressed"
        assert expected["status"]["silencedBy"] == [row.realisation["silence_id"]]
        ours = [s for s in await am.silences() if s["id"] == row.realisation["silence_id"]]
        assert ours[0]["createdBy"] == "aftershock" and ours[0]["comment"].startswith(f"aftershock:{run_id} ")
        engine.release(None)
        finished = await engine.wait(run_id)
        assert finished.verdict == "deviated"
        # after the run: the silence is expired (the alert pages again) and its record closed
        assert engine.store.fault(run_id, silences.FAULT_NAME).state == "removed"  # type: ignore[union-attr]
        state = [s["status"]["state"] for s in await am.silences() if s["id"] == row.realisation["silence_id"]]
        assert state == ["expired"]
        after = await _wait_for(lambda: _alert(am, "CheckoutLatencyHigh", "active"), "the alert unsilenced")
        assert after["status"]["silencedBy"] == []
        sent = _names(await _wait_for(lambda: _ours(am, run_id, 2), "the run's alerts"))
    breach = sent["AftershockBreachUnanswered"]
    assert breach["labels"] == {"alertname": "AftershockBreachUnanswered", "experiment": "alert-drill",
                                "run_id": run_id, "team": "checkout", "severity": "page", "source": "aftershock",
                                "slo": "unwatched-p95"}
    assert breach["generatorURL"] == f"https://aftershock.example/runs/{run_id}"
    verdict = sent["AftershockRunNotPassed"]
    assert verdict["labels"]["verdict"] == "deviated" and verdict["labels"]["run_id"] == run_id
    assert "checkout-p95" not in str(sent)  # answered by its policy: never alerted


async def _alert(am: AlertmanagerClient, name: str, state: str | None = None) -> dict[str, Any] | None:
    for found in await am.alerts():
        if found["labels"]["alertname"] == name and (state is None or found["status"]["state"] == state):
            return found
    return None


async def _ours(am: AlertmanagerClient, run_id: str, count: int) -> list[dict[str, Any]] | None:
    # resolved alerts (the breach once the run ended) are not listed as active: ask for every state
    found = [a for a in await am.alerts() if a["labels"].get("run_id") == run_id]
    found += [a for a in await _all(am) if a["labels"].get("run_id") == run_id and a not in found]
    names = {a["labels"]["alertname"] for a in found}
    return found if len(names) >= count else None


async def _all(am: AlertmanagerClient) -> list[dict[str, Any]]:
    answer = await am._call("GET", "/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
    return list(answer)


async def test_recover_expires_the_silence_of_a_dead_run(alertmanager: AlertmanagerServer, tmp_path: Path) -> None:
    """As after kill -9 between the silence and the end of the run: only the record is left."""
    loaded = load_text(EXPERIMENT % {"url": alertmanager.url}, source="drill.yaml")
    store = StateStore(tmp_path / "state")
    planned = silences.planned(loaded.experiment, "deadrun1", time.time())
    store.record_fault("deadrun1", silences.FAULT_NAME, silences.FAULT_TYPE, planned, planned["ends"])
    created = await silences.create(planned)  # the process died before it updated the record
    async with AlertmanagerClient(alertmanager.url) as am:
        assert _state(await am.silences(), created["silence_id"]) == "active"
        recovered = await recover_faults(store)
        assert [row.fault for row, _ in recovered.removed] == [silences.FAULT_NAME]
        assert _state(await am.silences(), created["silence_id"]) == "expired"
    assert store.faults("deadrun1", live_only=True) == []
    again = await recover_faults(store)
    assert again.found == []


def _state(found: list[dict[str, Any]], silence_id: str) -> str:
    return next(s["status"]["state"] for s in found if s["id"] == silence_id)


@pytest.mark.parametrize(("text", "expected"), [
    ('alertname="X"', {"name": "alertname", "value": "X", "isRegex": False, "isEqual": True}),
    ('team=~"check.*"', {"name": "team", "value": "check.*", "isRegex": True, "isEqual": True}),
    ('severity!="info"', {"name": "severity", "value": "info", "isRegex": False, "isEqual": False}),
    ("team!~ops", {"name": "team", "value": "ops", "isRegex": True, "isEqual": False}),
])
def test_matchers(text: str, expected: dict[str, Any]) -> None:
    assert parse_matcher(text) == expected


def test_a_bad_matcher_is_refused_with_the_field() -> None:
    bad = (EXPERIMENT % {"url": "http://127.0.0.1:9093"}).replace('team=~"check.*"', 'team=~"("')
    with pytest.raises(InvalidExperiment) as err:
        load_text(bad, source="drill.yaml")
    assert "spec.alerting.silence" in str(err.value) and "does not compile" in str(err.value)
