"""Undo plans are bounded like faults: each item carries a deadline, written with it, and a detached
watchdog undoes it at that deadline on its own — even while its run still looks alive, with nobody
running ``recover``. A real fault proxy and its admin endpoint; a weight held at 0 by a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness.admin import proxy_admin

from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.state import StateStore
from chaos.errors import StateError
from chaos.targets import undo_watchdog
from chaos.targets.undo import ProxyWeightUndo, undo_from_record, undo_to_record

TOKEN = "u" * 32


@pytest.fixture
async def admin_url() -> AsyncIterator[str]:
    async with proxy_admin(TOKEN, "gw") as url:
        yield url


async def _until(predicate: object, timeout: float = 30.0) -> None:
    """Await a condition the watchdog makes true (polled: it is another process)."""
    end = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("the condition never became true")
        await asyncio.sleep(0.1)


async def test_the_watchdog_undoes_a_weight_at_its_deadline_while_the_run_looks_alive(
        admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDO_TEST_TOKEN", TOKEN)
    store = StateStore(tmp_path / "state")
    store.start_run("run-deadline", "exp", "exp.yaml", "host")  # this process: the run looks alive
    item = ProxyWeightUndo(service="gw", weight=100, proxy={"admin": admin_url, "token_env": "UNDO_TEST_TOKEN"})
    store.record_undo("run-deadline", [undo_to_record(item, time.time() + 1.0)])  # write-ahead, then applied
    async with ProxyAdminClient(admin_url, TOKEN) as admin:
        assert await admin.set_weight("gw", 0, owner="run-deadline") == 100
        undo_watchdog.arm(store.dir, "run-deadline")
        try:
            async def restored() -> bool:
                return (await admin.weights())["gw"] == 100

            await _until(restored)

            async def exited() -> bool:
                return not undo_watchdog.pid_path(store.dir, "run-deadline").exists()

            await _until(exited)  # its plan done, the watchdog leaves nothing behind
        finally:
            undo_watchdog.disarm_run(store.dir, "run-deadline")
    assert store.undo_plans() == []  # the plan is done: recover has nothing left
    log = undo_watchdog.log_path(store.dir, "run-deadline").read_text()
    assert "deadline passed: weight of gw restored to 100" in log
    store.close()


async def test_a_damaged_item_is_skipped_and_the_rest_of_the_plan_still_undone(
        admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDO_TEST_TOKEN", TOKEN)
    store = StateStore(tmp_path / "state")
    store.start_run("run-mixed", "exp", "exp.yaml", "host")
    good = undo_to_record(ProxyWeightUndo(service="gw", weight=100,
                                          proxy={"admin": admin_url, "token_env": "UNDO_TEST_TOKEN"}), time.time())
    forged = {**good, "weight": "100; rm -rf /", "deadline": float("inf")}
    store.record_undo("run-mixed", [forged, good])
    async with ProxyAdminClient(admin_url, TOKEN) as admin:
        await admin.set_weight("gw", 0, owner="run-mixed")
        undo_watchdog.arm(store.dir, "run-mixed")
        try:
            async def restored() -> bool:
                return (await admin.weights())["gw"] == 100

            await _until(restored)

            async def written_back() -> bool:  # the watchdog writes what is left after the undo
                return [len(p.items) for p in store.undo_plans()] == [1]

            await _until(written_back)
        finally:
            undo_watchdog.disarm_run(store.dir, "run-mixed")
    (plan,) = store.undo_plans()
    assert [i["weight"] for i in plan.items] == ["100; rm -rf /"]  # the damaged item is kept, never acted on
    assert "skipping a damaged item" in undo_watchdog.log_path(store.dir, "run-mixed").read_text()
    store.close()


@pytest.mark.parametrize("damage", [{"deadline": float("inf")}, {"deadline": "soon"}, {"weight": "0"},
                                    {"proxy": "http://evil"}, {"v": 99}, {"service": None}])
def test_undo_records_are_validated_when_read(damage: dict[str, object]) -> None:
    record = undo_to_record(ProxyWeightUndo(service="gw", weight=100, proxy={}), time.time())
    with pytest.raises(StateError):
        undo_from_record({**record, **damage})
