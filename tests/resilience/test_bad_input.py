"""Bad input at scale: >= 500 generated malformed experiment files plus a Hypothesis fuzz of the loader.

Every malformed file is refused with a clear error (file, and a line or a field unless the problem is
the whole file), none raises anything else, and none injects anything (a sample goes through the
installed ``aftershock run``; its state dir records no fault). The corpus is
``bench/bench_bad_input.py`` (seeded mutations of every example); how long each decision takes is a
bench figure (docs/reliability.md), not asserted here.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.clients.state import StateStore
from chaos.errors import InvalidExperiment
from chaos.loading import load_bytes, load_text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_bad_input

AFTERSHOCK = Path(sys.executable).parent / "aftershock"
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def outcomes() -> list[bench_bad_input.Outcome]:
    return [bench_bad_input.decide(case) for case in bench_bad_input.corpus(seed=14, per_example=70)]


def test_every_malformed_file_is_refused_clearly_without_a_traceback(outcomes: list[bench_bad_input.Outcome]
                                                                   ) -> None:
    summary = bench_bad_input.report(outcomes)
    print({k: v for k, v in summary.items() if k != "problems"})
    assert summary["tracebacks"] == 0 and summary["refused_unclear"] == 0, summary["problems"]
    assert summary["refused_clear"] >= 500
    assert len(summary["mutations"]) == 18  # every kind of mutation produced refused files
    assert summary["accepted_still_valid"] < summary["files"] * 0.1


def test_refused_files_inject_nothing_through_the_cli(outcomes: list[bench_bad_input.Outcome], tmp_path: Path
                                                      ) -> None:
    refused = [o.case for o in outcomes if o.verdict == "clear"]
    sample = [next(c for c in refused if c.mutation == kind) for kind in
              ("wrong-type", "template", "alias-bomb", "invalid-utf8", "deep")]
    paths = []
    for case in refused[::10] + sample:
        path = tmp_path / case.name
        path.write_bytes(case.data)
        paths.append(path)
    done = subprocess.run([str(AFTERSHOCK), "validate", *map(str, paths)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("✗ ") >= len(paths)
    state = tmp_path / "state"
    for path in paths[-len(sample):]:
        done = subprocess.run([str(AFTERSHOCK), "run", str(path), "--state-dir", str(state)], capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert path.name in done.stderr
    store = StateStore(state)
    assert store.runs() == [] and store.faults() == []
    store.close()


def _values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                        st.text(max_size=30), st.sampled_from(bench_bad_input.TEMPLATE_ATTACKS))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                        max_leaves=12)


EXAMPLE = yaml.safe_load((bench_bad_input.REPO / "experiments" / "demo-degrade.yaml").read_text())
PATHS = [path for path, _ in bench_bad_input._leaves(EXAMPLE)]


@FUZZ
@given(path=st.sampled_from(PATHS), cut=st.integers(0, 3), value=_values())
def test_fuzz_structured_values_anywhere(path: tuple[Any, ...], cut: int, value: Any) -> None:
    doc = copy.deepcopy(EXAMPLE)
    target = path[:max(1, len(path) - cut)]
    node = doc
    for part in target[:-1]:
        node = node[part]
    node[target[-1]] = value
    try:
        load_text(yaml.safe_dump(doc, allow_unicode=True), "fuzz.yaml", environ={})
    except InvalidExperiment as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" and p.message for p in exc.problems)


@FUZZ
@given(data=st.binary(max_size=3000))
def test_fuzz_raw_bytes(data: bytes) -> None:
    try:
        load_bytes(data, "raw.yaml", environ={})
    except InvalidExperiment as exc:
        assert exc.problems and all(p.file == "raw.yaml" and p.message for p in exc.problems)
