"""Today's store and ``aftershock recover`` read a state database written by the previous release.

``fixtures/state-v0.db`` was written by the first release's ``StateStore`` (schema without a
version, undo plans in a magic ``actions`` row; ``fixtures/make_state_v0.py`` wrote it): one dead
run with a live proxy fault, a write-ahead kernel rule, a removed Kubernetes object, an applied
action and a pending undo plan. Opening it migrates it forward; ``recover`` finds and handles all
of it, through the real CLI.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.clients.state import SCHEMA_VERSION, StateStore
from chaos.errors import StateError
from chaos.targets.undo import HttpDegradeUndo, ProxyWeightUndo, undo_from_record

FIXTURE = Path(__file__).parent / "fixtures" / "state-v0.db"
AFTERSHOCK = Path(sys.executable).parent / "aftershock"
RUN = "r0prev01"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    out = tmp_path / "state"
    out.mkdir()
    shutil.copy(FIXTURE, out / "state.db")
    return out


def recover(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(state)}
    return subprocess.run([str(AFTERSHOCK), "recover", "--state-dir", str(state), *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_previous_release_database_is_migrated_and_read_as_typed_records(state: Path) -> None:
    assert sqlite3.connect(state / "state.db").execute("PRAGMA user_version").fetchone() == (0,)
    store = StateStore(state)
    assert store.schema_version == SCHEMA_VERSION
    live = {f.fault: f for f in store.faults(live_only=True)}
    assert sorted(live) == ["drop-db", "payment-delay"]
    assert (live["payment-delay"].kind, live["payment-delay"].state) == ("proxy", "injected")
    assert live["payment-delay"].realisation["proxy"]["admin"] == "http://127.0.0.1:9"
    assert (live["drop-db"].kind, live["drop-db"].state) == ("iptables", "recorded")
    assert [a.decision_id for a in store.actions(RUN)] == ["fast-rollback#1"]  # the undo plan moved out
    (plan,) = store.undo_plans()
    items = [undo_from_record(i) for i in plan.items]
    assert items == [ProxyWeightUndo(service="payment-gateway", weight=100, proxy={
        "admin": "http://127.0.0.1:9", "token_env": "AFTERSHOCK_DEMO_PROXY_TOKEN", "token_file": None}),
        HttpDegradeUndo(decision_id="fallback#1", call=plan.items[1]["call"])]
    assert plan.items[1]["call"]["url"] == "http://127.0.0.1:9/flags/fallback"
    store.close()
    assert StateStore(state).schema_version == SCHEMA_VERSION  # opening again changes nothing


def test_recover_dry_run_lists_what_the_previous_release_left(state: Path) -> None:
    done = recover(state, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"would remove {RUN}/payment-delay (network-delay, proxy)" in out
    assert f"would remove {RUN}/drop-db (network-loss, iptables)" in out
    assert "old-kill" not in out
    assert f"would revert {RUN}: proxy-weight payment-gateway" in out
    assert f"would revert {RUN}: http-degrade fallback#1" in out


def test_recover_removes_the_dead_runs_faults_and_keeps_undo_it_could_not_do(state: Path) -> None:
    done = recover(state)
    out = done.stdout + done.stderr
    # the proxy (a port nothing listens on) is gone and its fault with it; the kernel rule was never added
    assert f"✓ {RUN}/payment-delay (network-delay, proxy): proxy at http://127.0.0.1:9 is gone" in out
    assert f"{RUN}/drop-db (network-loss, iptables)" in out
    # the weight cannot be restored without the proxy's token, the degrade revert's endpoint is down
    assert f"✗ {RUN}: proxy-weight payment-gateway" in out and f"✗ {RUN}: http-degrade fallback#1" in out
    assert done.returncode == 3
    store = StateStore(state)
    assert "payment-delay" not in {f.fault for f in store.faults(live_only=True)}
    (plan,) = store.undo_plans()
    assert [i["kind"] for i in plan.items] == ["proxy-weight", "http-degrade"]  # kept for the next recover


def test_a_database_of_a_newer_release_is_refused(state: Path) -> None:
    db = sqlite3.connect(state / "state.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="written by a newer Aftershock"):
        StateStore(state)


def test_a_record_missing_what_removal_needs_is_a_clear_error() -> None:
    from chaos.targets.realisations import KernelRealisation, ProxyRealisation, realisation_from_record

    with pytest.raises(StateError, match="the recorded proxy fault lacks 'proxy_fault'"):
        realisation_from_record({"kind": "proxy", "proxy": {"admin": "http://127.0.0.1:9"}})
    with pytest.raises(StateError, match="no aftershock comment"):
        realisation_from_record({"kind": "iptables", "comment": "someone else's"})
    with pytest.raises(StateError, match="kind 'teleport'"):
        realisation_from_record({"kind": "teleport"})
    with pytest.raises(StateError, match="newer Aftershock"):
        realisation_from_record({"v": 99, "kind": "tc", "comment": "aftershock:r:f"})
    old = realisation_from_record({"kind": "tc", "comment": "aftershock:r:f", "kernel": {"interface": "lo"}})
    assert old == KernelRealisation(kind="tc", comment="aftershock:r:f", kernel={"interface": "lo"})
    proxy = realisation_from_record({"kind": "proxy", "proxy": {"admin": None}, "proxy_fault": {"id": "x"}})
    assert isinstance(proxy, ProxyRealisation) and proxy.fault_id == "x"


# ---------------------------------------------------------------- the release before: schema 1, schedules apart

FIXTURE_V1 = Path(__file__).parent / "fixtures" / "state-v1.db"
RUN_V1 = "r1prev01"


@pytest.fixture
def state_v1(tmp_path: Path) -> Path:
    out = tmp_path / "state-v1"
    out.mkdir()
    shutil.copy(FIXTURE_V1, out / "state.db")
    return out


def test_the_schedule_tables_of_the_previous_release_come_under_the_migrations(state_v1: Path) -> None:
    from chaos.clients.schedule_store import ScheduleStore

    assert sqlite3.connect(state_v1 / "state.db").execute("PRAGMA user_version").fetchone() == (1,)
    schedules = ScheduleStore(state_v1)  # the schedule store opens it through the same migrations
    assert sqlite3.connect(state_v1 / "state.db").execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    (row,) = schedules.schedules()
    assert (row.name, row.source, row.paused) == ("nightly", "gamedays/nightly.yaml", False)
    fires = {f.due: f for f in schedules.fires("nightly")}
    assert fires[1_780_000_100.0].state == "finished" and fires[1_780_000_100.0].score == 97
    assert fires[1_780_000_100.0].runs == [RUN_V1]
    assert fires[1_780_086_500.0].state == "skipped" and fires[1_780_086_500.0].reason == "paused"
    schedules.close()
    store = StateStore(state_v1)
    (fault,) = store.faults(live_only=True)
    assert (fault.run_id, fault.fault, fault.kind, fault.state) == (RUN_V1, "slow-checkout", "proxy", "injected")
    store.close()


def test_recover_handles_what_the_previous_release_left(state_v1: Path) -> None:
    done = recover(state_v1)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"✓ {RUN_V1}/slow-checkout (network-delay, proxy): proxy at http://127.0.0.1:9 is gone" in out
    assert StateStore(state_v1).faults(live_only=True) == []


def test_a_fresh_database_has_every_table_under_one_version(tmp_path: Path) -> None:
    StateStore(tmp_path / "s").close()
    db = sqlite3.connect(tmp_path / "s" / "state.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "faults", "actions", "undo", "schedules", "schedule_fires"} <= tables
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
