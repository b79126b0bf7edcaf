"""``aftershock validate`` on GameDay files: file:line:field, did-you-mean, every referenced
experiment validated (its problems name its own file), exit 2; the shipped example is valid."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chaos.cli import main

from .helpers import write_experiment

REPO = Path(__file__).resolve().parents[2]


def validate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_example_game_day_is_valid() -> None:
    code, out, err = validate(str(REPO / "gamedays" / "checkout-friday.yaml"))
    assert code == 0, err
    assert "game day checkout-friday (2 experiment(s) valid: payment-latency, packet-loss)" in out


def test_every_problem_with_file_line_field_and_hint(tmp_path: Path) -> None:
    write_experiment(tmp_path, "delay")
    bad = tmp_path / "gd.yaml"
    bad.write_text("""apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {name: drill}
spec:
  schedule:
    cron: "0 10 * * 5"
    timezone: Europe/Berlinn
    misssed: skip
    concurrency: forbid
  experiments:
    - file: delay.yaml
      set: {latencyy: 3}
    - file: dealy.yaml
  mod: serial
  blackouts:
    - {from: "2026-13-20", to: "2027-01-06"}
    - {cron: "0 9 * * *"}
  notify:
    - {url: "ftp://x", events: [finished, exploded]}
""")
    code, _, err = validate(str(bad))
    assert code == 2
    lines = err.splitlines()
    expected = [
        f"✗ {bad}:7: spec.schedule.timezone: 'Europe/Berlinn' is not an IANA time zone",
        f"✗ {bad}:9: spec.schedule.concurrency: 'forbid' is not allowed",
        f"✗ {bad}:8: spec.schedule.misssed: unknown key 'misssed' (did you mean 'missed'?)",
        f"✗ {bad}:14: spec.mod: unknown key 'mod' (did you mean 'mode'?)",
        f"✗ {bad}:16: spec.blackouts[0].from: '2026-13-20' is not an ISO 8601 date",
        f"✗ {bad}:17: spec.blackouts[1]: a cron window needs both 'cron' and 'duration'",
        f"✗ {bad}:19: spec.notify[0].url: 'ftp://x' is not an http:// or https:// URL",
        f"✗ {bad}:19: spec.notify[0].events[1]: 'exploded' is not allowed",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, err)
    # the model is fixed first; then the references are checked, experiments included
    text = bad.read_text().replace("Berlinn", "Berlin").replace("misssed", "missed").replace("forbid", "Forbid")
    text = text.replace("mod:", "mode:").replace("2026-13-20", "2026-12-20").replace(
        '{cron: "0 9 * * *"}', '{cron: "0 9 * * *", duration: 2h}').replace("ftp://x", "https://x").replace(
        ", exploded", "")
    text += "  gate: {slo: latncy, minBudget: 20}\n"
    bad.write_text(text)
    code, _, err = validate(str(bad), "--output", "json")
    assert code == 2
    report = json.loads(CliRunner().invoke(main, ["validate", "-o", "json", str(bad)]).stdout)[0]
    got = {(p["file"].rsplit("/", 1)[-1], p["line"], p["path"], p["message"].split(" (")[0], p["hint"])
           for p in report["problems"]}
    assert ("gd.yaml", 11, "spec.experiments[0].file", "experiment delay.yaml is invalid", "") in got
    assert ("delay.yaml", None, "", "--set latencyy: no such parameter", "declare it under spec.parameters") in got
    assert any(g[:3] == ("gd.yaml", 13, "spec.experiments[1].file") and g[4] == "did you mean 'delay.yaml'?"
               for g in got)


def test_gate_slo_is_checked_against_the_experiments(tmp_path: Path) -> None:
    write_experiment(tmp_path, "delay")
    gd = tmp_path / "gd.yaml"
    gd.write_text("""apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {name: drill}
spec:
  experiments: [{file: delay.yaml}]
  gate: {slo: latncy, maxBurnRate: 2}
""")
    code, _, err = validate(str(gd))
    assert code == 2
    assert f"{gd}:6: spec.gate.slo: unknown SLO 'latncy': the gate reads an SLO of the game day's experiments " \
           "(did you mean 'latency'?)" in err
    gd.write_text(gd.read_text().replace("latncy, maxBurnRate: 2", "latency"))
    code, _, err = validate(str(gd))
    assert code == 2 and "spec.gate: a gate needs minBudget and/or maxBurnRate" in err


def test_a_game_day_cannot_nest_game_days(tmp_path: Path) -> None:
    inner = tmp_path / "inner.yaml"
    inner.write_text("apiVersion: aftershock/v1alpha1\nkind: GameDay\nmetadata: {name: inner}\n"
                     "spec: {experiments: [{file: x.yaml}]}\n")
    outer = tmp_path / "outer.yaml"
    outer.write_text("apiVersion: aftershock/v1alpha1\nkind: GameDay\nmetadata: {name: outer}\n"
                     "spec:\n  experiments:\n    - file: inner.yaml\n")
    code, _, err = validate(str(outer))
    assert code == 2 and f"{outer}:6: spec.experiments[0].file: inner.yaml is a GameDay" in err


def test_a_cron_that_never_fires_is_invalid(tmp_path: Path) -> None:
    """No 30 February: ``0 0 30 2 *`` is refused at validate (exit 2, the cron named), not at serve."""
    import subprocess
    import sys


    write_experiment(tmp_path)
    path = tmp_path / "never.gameday.yaml"
    path.write_text("apiVersion: aftershock/v1alpha1\nkind: GameDay\nmetadata: {name: never}\nspec:\n"
                    "  schedule: {cron: '0 0 30 2 *', timezone: UTC}\n  experiments:\n    - file: delay.yaml\n")
    done = subprocess.run([str(Path(sys.executable).parent / "aftershock"), "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "'0 0 30 2 *' never fires" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_same_experiment_fired_twice_at_once_is_reported(tmp_path: Path) -> None:
    from .helpers import write_gameday

    write_gameday(tmp_path, '{cron: "0 10 * * 5", timezone: Europe/Berlin}', name="friday")
    write_gameday(tmp_path, '{cron: "0 10 * * 1-5", timezone: Europe/Berlin}', name="weekdays")
    write_gameday(tmp_path, '{cron: "30 10 * * 5", timezone: Europe/Berlin}', name="later")
    files = [str(tmp_path / f"{n}.gameday.yaml") for n in ("friday", "weekdays", "later")]
    code, out, err = validate(*files)
    assert code == 0, err  # a warning, not an invalid file
    conflicts = [line for line in err.splitlines() if line.startswith("! schedules:")]
    assert len(conflicts) == 1, err
    assert "delay.yaml is fired twice at" in conflicts[0] and "T09:00:00Z" in conflicts[0]
    assert "game day friday" in conflicts[0] and "game day weekdays" in conflicts[0]
    code, out, _ = validate("-o", "json", *files)
    found = json.loads(out)["conflicts"]
    assert [c["schedules"][0].split(" (")[0] for c in found] == ["game day friday"]


def test_the_shipped_examples_do_not_conflict() -> None:
    root = Path(__file__).resolve().parents[2]
    files = sorted(map(str, [*root.glob("experiments/*.yaml"), *root.glob("gamedays/*.yaml")]))
    code, _, err = validate(*files)
    assert code == 0 and "! schedules" not in err, err
