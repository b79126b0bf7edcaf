"""Fire times across both DST transitions in two zones (Europe/Berlin, America/New_York), the
wildcard-hour rules, and ``aftershock gameday next --output json``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.cli import main
from chaos.gameday.fires import next_fires, resolve, utc_z

from .helpers import utc, write_gameday


def fires(cron: str, tz: str, after: str, n: int) -> list[str]:
    return [utc_z(t) for t in next_fires(cron, tz, utc(after), n)]


@pytest.mark.parametrize(("tz", "gap_day", "gap_fire", "before", "after"), [
    # 02:30 does not exist on these days: fires once at the first instant after the gap (03:00 local)
    ("Europe/Berlin", "2027-03-27T12:00:00Z", "2027-03-28T01:00:00Z", "2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z"),
    ("America/New_York", "2027-03-13T12:00:00Z", "2027-03-14T07:00:00Z", "2027-03-13T07:30:00Z",
     "2027-03-15T06:30:00Z"),
])
def test_spring_forward_gap_fires_once_at_the_end_of_the_gap(tz: str, gap_day: str, gap_fire: str, before: str,
                                                             after: str) -> None:
    got = fires("30 2 * * *", tz, gap_day, 2)
    assert got == [gap_fire, after]
    around = fires("30 2 * * *", tz, before[:11] + "00:00:00Z", 3)
    assert around == [before, gap_fire, after]  # one fire a day, the gap's exactly once


@pytest.mark.parametrize(("tz", "cron", "start", "expected"), [
    # 02:30 Berlin happens twice on 2027-10-31 (CEST then CET): once, at the first (00:30Z)
    ("Europe/Berlin", "30 2 * * *", "2027-10-30T12:00:00Z", ["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"]),
    # 01:30 New York happens twice on 2027-11-07 (EDT then EST): once, at the first (05:30Z)
    ("America/New_York", "30 1 * * *", "2027-11-06T12:00:00Z", ["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"]),
])
def test_fall_back_duplicate_fires_once_at_its_first_occurrence(tz: str, cron: str, start: str,
                                                                expected: list[str]) -> None:
    assert fires(cron, tz, start, 2) == expected


def test_wildcard_hour_schedules_across_both_transitions() -> None:
    # spring: 02:00 and 02:30 CET do not exist; they collapse into the 03:00 CEST fire (01:00Z)
    assert fires("*/30 * * * *", "Europe/Berlin", "2027-03-28T00:00:00Z", 4) == [
        "2027-03-28T00:30:00Z", "2027-03-28T01:00:00Z", "2027-03-28T01:30:00Z", "2027-03-28T02:00:00Z"]
    # fall: 02:00 and 02:30 fire in summer time only; the repeated hour is not fired again
    assert fires("*/30 * * * *", "Europe/Berlin", "2027-10-30T23:30:00Z", 4) == [
        "2027-10-31T00:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T02:00:00Z", "2027-10-31T02:30:00Z"]
    assert fires("0 * * * *", "America/New_York", "2027-11-07T04:30:00Z", 3) == [
        "2027-11-07T05:00:00Z", "2027-11-07T07:00:00Z", "2027-11-07T08:00:00Z"]


def test_a_thirty_minute_shift_zone() -> None:
    # Lord Howe Island moves by 30 minutes: 02:15 on 2027-10-03 does not exist (02:00 → 02:30)
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2027-10-02T00:00:00Z", 1) == ["2027-10-02T15:30:00Z"]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=4 * 365 * 24 * 4), st.sampled_from(
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]),
    st.sampled_from(["*/30 * * * *", "30 2 * * *", "0 1-3 * * 0", "15 * * * *"]))
def test_fires_are_strictly_increasing_and_after_the_start(quarters: int, tz: str, cron: str) -> None:
    start = utc("2026-01-01T00:00:00Z") + quarters * 900
    got = next_fires(cron, tz, start, 8)
    assert got[0] > start
    assert all(a < b for a, b in itertools.pairwise(got))


def test_resolve_is_the_identity_for_existing_times() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert resolve(datetime(2027, 6, 1, 10, 0), ZoneInfo("Europe/Berlin")) == utc("2027-06-01T08:00:00Z")


def test_gameday_next_json(tmp_path: Path) -> None:
    lgd = write_gameday(tmp_path, '{cron: "30 2 * * *", timezone: Europe/Berlin}')
    result = CliRunner().invoke(main, ["gameday", "next", lgd.source, "--after", "2027-03-27T12:00:00Z",
                                       "--count", "2", "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"name": "drill", "timezone": "Europe/Berlin",
                                         "fires": ["2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"], "skipped": []}


def test_gameday_next_says_what_a_blackout_skips(tmp_path: Path) -> None:
    lgd = write_gameday(tmp_path, '{cron: "0 10 * * 5", timezone: Europe/Berlin}',
                        extra='  blackouts:\n    - {from: "2026-12-20", to: "2027-01-06"}')
    result = CliRunner().invoke(main, ["gameday", "next", lgd.source, "--after", "2026-12-15T00:00:00Z",
                                       "-c", "2", "-o", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    # Fri 18 Dec fires; 25 Dec and 1 Jan fall in the blackout; 8 Jan fires
    assert found["fires"] == ["2026-12-18T09:00:00Z", "2027-01-08T09:00:00Z"]
    assert [(s["at"], s["reason"]) for s in found["skipped"]] == [("2026-12-25T09:00:00Z", "blackout"),
                                                               ("2027-01-01T09:00:00Z", "blackout")]
    text = CliRunner().invoke(main, ["gameday", "next", lgd.source, "--after", "2026-12-15T00:00:00Z", "-c", "2"])
    assert "2026-12-25T09:00:00Z" in text.output and "skipped: blackout" in text.output


def test_gameday_next_refuses_bad_input(tmp_path: Path) -> None:
    lgd = write_gameday(tmp_path, '{cron: "30 2 * * *"}')
    result = CliRunner().invoke(main, ["gameday", "next", lgd.source, "--after", "tomorrow"])
    assert result.exit_code == 2
    assert "--after 'tomorrow': not an ISO 8601 time" in result.output
    exp = tmp_path / "delay.yaml"
    result = CliRunner().invoke(main, ["gameday", "next", str(exp)])
    assert result.exit_code == 2 and "spec.schedule: has no spec.schedule" in result.output
