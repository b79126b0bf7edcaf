"""The run's history as a person reads it: ``aftershock show`` (text), the HTML report, and
``aftershock init`` / the option vocabulary. Journals are built by ``chaos.journal`` from events
constructed here (the latency demo: breach, rollback, recovery).

The report's pictures were looked at as headless-Chromium PNGs; these tests pin what was fixed:
before/during/after with the recovery, labels inside the plot, evidence in words, units once.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from click.testing import CliRunner
from demo_runs import RUN, T0, latency_run

from chaos.bundled import examples_dir, manifests_dir
from chaos.cli import main
from chaos.commands.history import show_lines
from chaos.journal import build_journal
from chaos.loading import load_file
from chaos.report import H, W, render_report, series_of


def journal() -> dict:  # type: ignore[type-arg]
    loaded = load_file(examples_dir() / "demo-payment-latency.yaml", environ={})
    return build_journal(loaded.experiment, latency_run())


def test_show_is_a_timeline_in_words() -> None:
    lines = show_lines(journal())
    text = "\n".join(lines)
    assert lines[0] == f"run {RUN}: demo-payment-latency — deviated"
    assert " s |" not in text and "breach to action s" not in text
    assert "    +3.0 s  policy fast-rollback fired → rollback on payment-delay" in text
    assert "checkout-p95 was 0.59 (objective < 0.3), breached" in text
    assert "removed payment-delay by the rollback" in text
    assert "\\u2192" not in text and "{'" not in text and "eval_time=" not in text


def test_show_json_stays_the_machine_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["show", "nope", "-o", "json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3 and "no run 'nope'" in result.output


def test_report_shows_before_during_and_after() -> None:
    j = journal()
    context = {"checkout-p95": [(T0 - 10 + i, 0.04) for i in range(10)] +
               [(T0 + 4 + i, 0.5 - 0.1 * i) for i in range(5)]}
    points = series_of("checkout-p95", j, context)
    times = [t for t, _, _ in points]
    assert times == sorted(times)
    assert times[0] < T0 - 5, "a baseline before the run"
    assert any(T0 + 3.1 < t < T0 + 8 for t in times), "the recovery between the rollback and the end"
    html = render_report(j, context)
    assert "seconds since the run started" in html and "Prometheus' own samples" in html
    assert "checkout-p95 was 0.59 (objective &lt; 0.3), breached" in html
    assert "{&#x27;" not in html and "{'" not in html, "no raw dicts"
    assert "breach → policy action" not in html or "<td class=num>" in html


def test_report_labels_stay_inside_the_plot() -> None:
    html = render_report(journal())
    for match in re.finditer(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" class="actlabel">([^<]+)</text>',
                             html):
        x, y, label = float(match[1]), float(match[2]), match[3]
        half = len(label) * 6.2 / 2
        assert x - half >= 0 and x + half <= W and 0 < y < H, (x, label)
    assert ">1 rollback<" in html and "<th>#</th>" in html
    ticks = re.findall(r'class="axis">(-?[\d.e+-]+)</text>', html)
    assert ticks and all(not t.startswith("-") for t in ticks[:4]), "a non-negative SLO's y axis starts at 0"


def test_init_writes_the_examples_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "mine"
    result = runner.invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.glob("*.yaml")) == sorted(p.name for p in examples_dir().glob("*.yaml"))
    again = runner.invoke(main, ["init", str(target)])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(main, ["init", str(target), "--force"]).exit_code == 0
    validated = runner.invoke(main, ["validate", *map(str, sorted(target.glob("*.yaml")))])
    assert validated.exit_code == 0, validated.output
    # the game days go next to the experiments, their file: references pointing at them
    gamedays = tmp_path / "gamedays"
    assert sorted(p.name for p in gamedays.glob("*.yaml")) == ["checkout-friday.yaml", "demo-gameday.yaml"]
    assert "file: ../mine/payment-latency.yaml" in (gamedays / "checkout-friday.yaml").read_text()
    nxt = runner.invoke(main, ["gameday", "next", str(gamedays / "checkout-friday.yaml"), "-o", "json"])
    assert nxt.exit_code == 0 and nxt.output.startswith('{"name": "checkout-friday"'), nxt.output


def test_bundled_files_are_found() -> None:
    assert (manifests_dir() / "networkchaos.yaml.j2").is_file()
    assert (examples_dir() / "demo-payment-latency.yaml").is_file()


def test_one_option_vocabulary() -> None:
    """-o/--output is the format wherever a command has one; --out is every written path."""
    runner = CliRunner()
    for command in ("validate", "run", "demo", "runs", "show", "check"):
        help_text = runner.invoke(main, [command, "--help"]).output
        assert re.search(r"-o, --output \[text\|json\|yaml\]", help_text), command
    for command in ("compile", "report", "demo"):
        help_text = runner.invoke(main, [command, "--help"]).output
        assert "--out " in help_text and "--out-dir" not in help_text, command
    listed = [line.split()[0] for line in runner.invoke(main, ["--help"]).output.split("Commands:")[1].splitlines()
              if line.startswith("  ") and line.split()]
    assert "proxy" not in listed and "status" in listed  # the phantom command is gone; real ones are listed


def test_close_actions_never_overlap() -> None:
    j = journal()
    first = j["aftershock"]["decisions"][0]
    j["aftershock"]["decisions"] = [
        {**first, "at": first["at"] + 0.2 * k, "decision_id": f"d{k}", "action": "circuit-break",
         "evidence": {"summary": "circuit half-open: gw → weight 10" if k % 2 else "circuit open: gw → weight 0"}}
        for k in range(6)]
    html = render_report(j)
    boxes: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for plot_index, svg in enumerate(html.split("<svg")[1:]):
        for match in re.finditer(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" '
                                 r'class="actlabel">([^<]+)</text>', svg):
            x, half = float(match[1]), len(match[3]) * 6.2 / 2
            assert x - half >= 0 and x + half <= W
            boxes.setdefault((plot_index, match[2]), []).append((x - half, x + half))
    assert sum(len(b) for b in boxes.values()) == 12  # 6 per SLO plot, two plots
    for row in boxes.values():
        row.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(row)), row


def test_report_chart_leaves_a_gap_where_nothing_was_measured() -> None:
    """Samples every second, then none for 5 s: the line stops and starts again (no straight line
    drawn across time with no data), and every sample is a dot of its own."""
    from chaos.report import plot_slo, series_gap

    assert series_gap([0.0, 1.0, 2.0, 3.0, 8.0, 9.0]) == 2.5
    j = journal()
    context = {"checkout-p95": [(T0 - 10 + i, 0.04) for i in range(10)]}
    svg = plot_slo({"name": "checkout-p95", "objective": "< 0.3"}, j, context)
    (d,) = re.findall(r'<path d="([^"]*)" class="series"/>', svg)
    assert d.count("M") >= 2, d  # the baseline and the run's own samples are not joined across the gap
    dots = len(re.findall(r'class="(?:sample|breached|pending)"', svg))
    assert dots == d.count("M") + d.count("L")  # a dot for every point drawn
