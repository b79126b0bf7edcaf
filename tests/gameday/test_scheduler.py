"""Scheduler semantics with a virtual clock: on-time fires, missed fires (skip / latest, past the
deadline, a long outage), concurrency Forbid / Allow / Replace, the global exclusion, restarts
mid-run, two schedulers on one state DB, blackouts, a closed gate, suspendAfter and pause."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore
from chaos.gameday.decide import MAX_RECORDED
from chaos.gameday.loading import LoadedGameDay
from chaos.gameday.service import Scheduler
from chaos.slo.budget import GateReading

from .helpers import FakeClock, Launches, drain, make, settle, utc, write_experiment, write_gameday

EVERY_10 = '{cron: "*/10 * * * *", timezone: UTC}'


def skips(store: ScheduleStore, name: str = "drill") -> list[tuple[float, str]]:
    return sorted((f.due, f.reason) for f in store.fires(name, states=("skipped",), limit=100_000))


async def start(s: Scheduler, lgd: LoadedGameDay) -> None:
    s.load({lgd.name: lgd})
    await s.step()
    await settle(s)


async def test_fires_once_on_time_and_not_again(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:02Z")
    await s.step()
    await s.step()
    await drain(s)
    assert [h.due for h in launches.started] == [utc("2027-01-01T00:10:00Z")]
    row = stores[0].fires("drill", states=("finished",))[0]
    assert (row.verdict, row.score, row.trigger) == ("passed", 100, "schedule")
    assert s.metrics.next_fire.labels(schedule="drill")._value.get() == utc("2027-01-01T00:20:00Z")


async def test_missed_skip_records_every_due_time_and_starts_none(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:35:00Z")  # the scheduler was down from 00:00:30 to 00:35
    await s.step()
    assert launches.started == []
    got = skips(stores[0])
    assert [d for d, _ in got] == [utc(f"2027-01-01T00:{m}:00Z") for m in (10, 20, 30)]
    assert all(r.startswith("missed: the scheduler was not running") for _, r in got)
    assert s.metrics.skips.labels(schedule="drill", reason="missed")._value.get() == 3


async def test_missed_latest_runs_only_the_most_recent_within_the_deadline(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "*/10 * * * *", timezone: UTC, missed: latest, startingDeadline: 30m}')
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:35:00Z")  # down since 00:00:30: 00:10, 00:20, 00:30 are all within 30m
    await s.step()
    await drain(s)
    assert [h.due for h in launches.started] == [utc("2027-01-01T00:30:00Z")]  # one, never a burst
    assert [r for _, r in skips(stores[0])] == ["superseded by a later due time"] * 2


async def test_missed_latest_past_the_deadline_is_skipped(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "0 * * * *", timezone: UTC, missed: latest, startingDeadline: 10m}')
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T01:15:00Z")
    await s.step()
    assert launches.started == []
    assert skips(stores[0]) == [(utc("2027-01-01T01:00:00Z"), "missed: more than startingDeadline (10m) late")]


async def test_a_month_long_outage_is_recorded_in_bounded_rows(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "* * * * *", timezone: UTC}')
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-31T00:00:30Z")
    await s.step()
    await drain(s)
    rows = stores[0].fires("drill", states=("skipped",), limit=100_000)
    assert len(rows) == MAX_RECORDED
    # every missed minute is counted; the last one (30 s ago, within the grace) runs: never a burst
    assert [h.due for h in launches.started] == [utc("2027-01-31T00:00:00Z")]
    assert sum(r.count for r in rows) == 30 * 24 * 60 - 1
    assert s.metrics.skips.labels(schedule="drill", reason="missed")._value.get() == 30 * 24 * 60 - 1


async def test_forbid_skips_while_the_previous_runs(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10)
    launches = Launches()
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    await settle(s)
    first = launches.started[0].gameday_id
    clock.t = utc("2027-01-01T00:20:01Z")
    await s.step()
    assert len(launches.started) == 1
    assert skips(stores[0]) == [(utc("2027-01-01T00:20:00Z"),
                                 f"concurrency Forbid: the previous run {first} is still running")]
    launches.finish(first)
    await drain(s)


async def test_replace_aborts_the_previous_and_starts(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "*/10 * * * *", timezone: UTC, concurrency: Replace}')
    launches = Launches()
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    await settle(s)
    clock.t = utc("2027-01-01T00:20:01Z")
    await s.step()
    await settle(s)
    assert len(launches.started) == 2
    old = stores[0].fires("drill", states=("finished",))
    assert [(f.due, f.verdict) for f in old] == [(utc("2027-01-01T00:10:00Z"), "aborted")]
    launches.finish(launches.started[1].gameday_id)
    await drain(s)


async def test_allow_runs_concurrently(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "*/10 * * * *", timezone: UTC, concurrency: Allow}')
    launches = Launches()
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    for t in ("00:10:01", "00:20:01"):
        clock.t = utc(f"2027-01-01T{t}Z")
        await s.step()
        await settle(s)
    assert len(s.live) == 2
    for h in launches.started:
        launches.finish(h.gameday_id)
    await drain(s)


async def test_global_exclusion_against_another_run_on_the_same_target(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10, port=18999)
    other = write_experiment(tmp_path, "other", port=18999)
    elsewhere = write_experiment(tmp_path, "elsewhere", port=18998)
    runs = stores[1]
    runs.start_run("tuirun1", "other", str(other), "host")  # this process: alive
    runs.record_fault("tuirun1", "slow", "network-delay", {"kind": "proxy"}, deadline=2e9)
    runs.start_run("cirun2", "elsewhere", str(elsewhere), "host")
    runs.record_fault("cirun2", "slow", "network-delay", {"kind": "proxy"}, deadline=2e9)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    assert launches.started == []
    (_, reason), = skips(stores[0])
    assert reason == ("another run has faults on overlapping targets: run tuirun1 (other) on "
                      "host:proxy:127.0.0.1:18999")
    runs.update_fault("tuirun1", "slow", "removed")
    clock.t = utc("2027-01-01T00:20:01Z")
    await s.step()
    await drain(s)
    assert len(launches.started) == 1  # the other run on another port does not block


async def test_restart_mid_run_orphans_it_and_never_reruns_its_due_time(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "*/10 * * * *", timezone: UTC, missed: latest}', extra="  suspendAfter: 1")
    first = Launches()
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), first)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    await settle(s)
    assert len(first.started) == 1
    # the scheduler process dies: its row's owner is no longer alive (another process start time)
    with sqlite3.connect(stores[0].path) as db:
        db.execute("UPDATE schedule_fires SET pid_start = 'dead' WHERE state = 'running'")
    restarted = Launches(auto="passed")
    s2 = Scheduler(ScheduleStore(stores[0].dir), StateStore(stores[0].dir), FakeClock(clock.t + 60), restarted)
    assert s2.recover() == [f"drill@{utc('2027-01-01T00:10:00Z')}"]
    s2.load({lgd.name: lgd})
    await s2.step()
    assert restarted.started == []  # 00:10 was claimed before it started: not again
    orphan = s2.schedules.fires("drill", states=("orphaned",))[0]
    assert orphan.verdict == "aborted"
    clock.t = utc("2027-01-01T00:20:01Z")
    s2.clock = FakeClock(clock.t)
    await s2.step()
    assert restarted.started == []  # the orphan counts as aborted: suspendAfter 1 suspends the schedule
    assert skips(s2.schedules)[-1][1].startswith("schedule suspended: 1 consecutive game days failed or aborted")
    for live in s._live.values():  # the dead scheduler's task (a real one died with its process)
        live.task.cancel()


async def test_two_schedulers_on_one_db_start_a_due_time_once(tmp_path: Path) -> None:
    lgd = write_gameday(tmp_path, EVERY_10)
    state = tmp_path / "state"
    a, b = Launches(auto="passed"), Launches(auto="passed")
    clock = FakeClock(utc("2027-01-01T00:00:30Z"))
    s1 = Scheduler(ScheduleStore(state), StateStore(state), clock, a)
    s2 = Scheduler(ScheduleStore(state), StateStore(state), clock, b)
    s1.load({lgd.name: lgd})
    s2.load({lgd.name: lgd})
    for t in ("00:10:01", "00:20:05", "00:30:00"):
        clock.t = utc(f"2027-01-01T{t}Z")
        await s2.step()
        await s1.step()
        await drain(s1)
        await drain(s2)
    dues = sorted(h.due for h in a.started + b.started)
    assert dues == [utc(f"2027-01-01T00:{m}:00Z") for m in (10, 20, 30)]
    assert skips(ScheduleStore(state)) == []


async def test_blackouts_date_range_and_cron_window(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    extra = ('  blackouts:\n    - {from: "2027-01-02", to: "2027-01-02", reason: freeze}\n'
             '    - {cron: "0 9 * * *", duration: 2h}')
    lgd = write_gameday(tmp_path, '{cron: "0 8-12 * * *", timezone: Europe/Berlin}', extra=extra)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T06:30:00Z"), launches)
    await start(s, lgd)
    for day in ("01", "02"):
        for hour in range(7, 12):  # 08:00..12:00 Berlin (CET = UTC+1)
            clock.t = utc(f"2027-01-{day}T{hour:02d}:00:01Z")
            await s.step()
            await drain(s)
    # 09:00 and 10:00 Berlin fall in the window 09:00 + 2h; the whole of Jan 2 is frozen
    assert [h.due for h in launches.started] == [utc(f"2027-01-01T{h}:00:00Z") for h in ("07", "10", "11")]
    reasons = [r for _, r in skips(stores[0])]
    assert reasons == ["blackout cron '0 9 * * *' for 2h"] * 2 + ["blackout 2027-01-02 → 2027-01-02 (freeze)"] * 5


async def test_gate_closed_skips_or_holds_until_it_opens(tmp_path: Path,
                                                         stores: tuple[ScheduleStore, StateStore]) -> None:
    extra = "  gate: {slo: latency, maxBurnRate: 2}"
    state = {"open": False}

    async def gate(lgd: LoadedGameDay, now: float) -> GateReading:
        return GateReading(state["open"], "latency burns its error budget at 14x over 1h, 20x over 5m")

    lgd = write_gameday(tmp_path, EVERY_10, extra=extra)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches, gate=gate)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    assert skips(stores[0]) == [(utc("2027-01-01T00:10:00Z"), "gate closed: latency burns its error budget at "
                                 "14x over 1h, 20x over 5m")]
    # latest: held while closed, started when the gate opens within the deadline
    latest = write_gameday(tmp_path, '{cron: "*/10 * * * *", timezone: UTC, missed: latest, startingDeadline: 5m}',
                           name="held", extra=extra)
    s.load({latest.name: latest})
    clock.t = utc("2027-01-01T00:20:01Z")
    assert await s.step() == clock.t + 5.0  # looks again soon
    clock.t = utc("2027-01-01T00:22:00Z")
    state["open"] = True
    await s.step()
    await drain(s)
    assert [(h.schedule, h.due) for h in launches.started] == [("held", utc("2027-01-01T00:20:00Z"))]
    assert s.metrics.lag._sum.get() == 120.0
    # held past its deadline: skipped with the blocker as its reason
    state["open"] = False
    clock.t = utc("2027-01-01T00:30:01Z")
    await s.step()
    clock.t = utc("2027-01-01T00:36:00Z")
    await s.step()
    assert skips(stores[0], "held")[-1] == (utc("2027-01-01T00:30:00Z"),
                                            "not started within startingDeadline (5m): gate closed: latency burns "
                                            "its error budget at 14x over 1h, 20x over 5m")


async def test_suspend_after_consecutive_failures_until_resumed(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10, extra="  suspendAfter: 2")
    launches = Launches(auto="failed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    for m in (10, 20, 30):
        clock.t = utc(f"2027-01-01T00:{m}:01Z")
        await s.step()
        await drain(s)
    assert len(launches.started) == 2
    row = stores[0].schedule("drill")
    assert row is not None and row.suspended.startswith("2 consecutive game days failed or aborted")
    assert skips(stores[0])[-1][1].startswith("schedule suspended: 2 consecutive")
    assert stores[0].set_paused("drill", False, clock.t)  # `aftershock gameday resume drill`
    launches.auto = "passed"
    clock.t = utc("2027-01-01T00:40:01Z")
    await s.step()
    await drain(s)
    assert len(launches.started) == 3


async def test_paused_schedules_record_their_skips(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, EVERY_10)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    await start(s, lgd)
    stores[0].set_paused("drill", True, clock.t)
    clock.t = utc("2027-01-01T00:10:01Z")
    await s.step()
    assert launches.started == []
    assert skips(stores[0]) == [(utc("2027-01-01T00:10:00Z"), "schedule paused")]


async def test_dst_gap_fires_at_the_end_of_the_gap(tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    lgd = write_gameday(tmp_path, '{cron: "30 2 * * *", timezone: Europe/Berlin}')
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-03-27T12:00:00Z"), launches)
    await start(s, lgd)
    clock.t = utc("2027-03-28T01:00:00Z")  # 03:00 CEST, the first instant after 02:00-03:00 that does not exist
    await s.step()
    await drain(s)
    assert [h.due for h in launches.started] == [utc("2027-03-28T01:00:00Z")]


async def test_notifications_scheduled_skipped_started(tmp_path: Path,
                                                       stores: tuple[ScheduleStore, StateStore]) -> None:
    sent: list[tuple[str, dict[str, object]]] = []

    async def notify(lgd: LoadedGameDay, event: str, body: dict[str, object]) -> None:
        sent.append((event, body))

    lgd = write_gameday(tmp_path, EVERY_10)
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches, notify=notify)
    await start(s, lgd)
    clock.t = utc("2027-01-01T00:25:00Z")  # 00:10 missed, 00:20 missed
    await s.step()
    clock.t = utc("2027-01-01T00:30:01Z")
    await s.step()
    await drain(s)
    events = [e for e, _ in sent]
    assert events == ["scheduled", "skipped", "scheduled", "scheduled", "started"]
    assert sent[1][1]["count"] == 2 and sent[0][1]["next_fire"] == utc("2027-01-01T00:10:00Z")


async def test_a_cron_that_never_fires_does_not_stop_the_other_schedules(
        tmp_path: Path, stores: tuple[ScheduleStore, StateStore]) -> None:
    """``0 0 30 2 *`` is refused at validate; one that reaches the scheduler anyway (an older file, a
    croniter that disagrees) is reported for its schedule while the others keep running."""
    import dataclasses

    good = write_gameday(tmp_path, EVERY_10)
    bad = write_gameday(tmp_path, EVERY_10, name="never")
    spec = bad.gameday.spec
    assert spec.schedule is not None
    never = spec.schedule.model_copy(update={"cron": "0 0 30 2 *"})  # past validation, as if unchecked
    bad = dataclasses.replace(bad, gameday=bad.gameday.model_copy(update={"spec": spec.model_copy(
        update={"schedule": never})}))
    launches = Launches(auto="passed")
    s, clock = make(stores, utc("2027-01-01T00:00:30Z"), launches)
    s.load({"never": bad, "drill": good})
    await s.step()
    clock.t = utc("2027-01-01T00:10:02Z")
    await s.step()
    await drain(s)
    assert [h.due for h in launches.started] == [utc("2027-01-01T00:10:00Z")]


async def test_a_suspension_is_alerted_to_alertmanager(tmp_path: Path,
                                                      stores: tuple[ScheduleStore, StateStore]) -> None:
    from chaos.clients.alertmanager import AlertmanagerClient
    from chaos.demo.alertmanager import AlertmanagerServer
    from chaos.gameday.notify import alert_suspended

    with AlertmanagerServer() as server:
        receiver = f'  alerting: {{alertmanager: "{server.url}", labels: {{team: checkout}}}}'
        lgd = write_gameday(tmp_path, EVERY_10, extra=f"  suspendAfter: 1\n{receiver}")
        told: list[str] = []

        async def notify(g: LoadedGameDay, event: str, body: dict[str, object]) -> None:
            told.append(event)
            if event == "suspended":
                await alert_suspended(g, body)  # what `gameday serve` does

        s, clock = make(stores, utc("2027-01-01T00:00:30Z"), Launches(auto="failed"), notify=notify)
        await start(s, lgd)
        clock.t = utc("2027-01-01T00:10:01Z")
        await s.step()
        await drain(s)
        assert told.count("suspended") == 1
        async with AlertmanagerClient(server.url) as am:
            alerts = [a for a in await am.alerts() if a["labels"]["alertname"] == "AftershockScheduleSuspended"]
    assert [a["labels"] for a in alerts] == [{"alertname": "AftershockScheduleSuspended", "schedule": "drill",
                                             "team": "checkout", "severity": "warning", "source": "aftershock"}]
    assert alerts[0]["annotations"]["description"].startswith("1 consecutive game days failed or aborted")
