"""The loader: bounded reading, YAML with positions, duplicate keys, merge keys, problem messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import InvalidExperiment
from chaos.loading import MAX_DEPTH, MAX_FILE_BYTES, load_bytes, load_file, load_text

from .helpers import BASE, doc, dump, load, one_problem, problems, with_fault

REPO = Path(__file__).resolve().parents[2]

PAYMENT = (REPO / "experiments" / "payment-latency.yaml").read_text()


def _refusal(data: bytes) -> str:
    with pytest.raises(InvalidExperiment) as info:
        load_bytes(data, "f.yaml")
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.file == "f.yaml"
    return problem.render()


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "experiments").glob("*.yaml")))
def test_every_shipped_experiment_loads(name: str) -> None:
    loaded = load_file(REPO / "experiments" / name)
    assert loaded.experiment.name == name.removesuffix(".yaml")


def test_reference_experiment_values() -> None:
    exp = load_file(REPO / "experiments" / "payment-latency.yaml").experiment
    fault = exp.spec.faults[0]
    assert (fault.type, fault.mode, fault.latency, fault.direction, fault.duration) == (
        "network-delay", "one", "500ms", "to", "2m")
    assert [p.action for p in exp.spec.policies] == ["rollback", "degrade", "circuit-break"]
    assert exp.spec.steady_state == ["checkout-p95", "error-rate"]


def test_binary_garbage_is_refused() -> None:
    assert "binary data" in _refusal(b"\x00\x01\x02garbage")


def test_non_utf8_is_refused_with_offset() -> None:
    assert "not UTF-8 text (byte 3)" in _refusal(b"a: \xff\xfe")


def test_oversized_file_is_refused_without_parsing() -> None:
    assert f"larger than {MAX_FILE_BYTES} bytes" in _refusal(b"#" * (MAX_FILE_BYTES + 1))


def test_not_yaml_reports_the_line() -> None:
    text = _refusal(b"apiVersion: x\nkind: [\n")
    assert text.startswith("f.yaml:2:7: not valid YAML")


@pytest.mark.parametrize(("data", "where", "what"), [
    (b"apiVersion: x\nkind Experiment\nmetadata: {}\n", "f.yaml:2:1:", "a key without ':'"),
    (b"apiVersion: 'x\nkind: y\n", "f.yaml:1:13:", "quoted string that is never closed"),
    (b"a: 1\n  b: 2\n", "f.yaml:2:4:", "mapping values are not allowed"),
    (b"a: [1, 2\nb: 3\n", "f.yaml:2:2:", "flow sequence started at line 1, column 4"),
])
def test_syntax_errors_at_their_line_and_column(data: bytes, where: str, what: str) -> None:
    text = _refusal(data)
    assert text.startswith(where) and what in text, text


def test_a_bad_parameter_is_reported_at_the_parameter() -> None:
    source = (b"apiVersion: aftershock/v1alpha1\nkind: Experiment\nmetadata: {name: p}\nspec:\n"
              b"  parameters:\n    latency: fast\n  target: {type: host}\n  faults:\n"
              b"    - name: d\n      type: network-delay\n"
              b"      selector: {proxy: {listen: '127.0.0.1:1', upstream: u, admin: 'http://127.0.0.1:2'}}\n"
              b"      latency: '{{ latency }}'\n      duration: 10s\n")
    text = _refusal(source)
    assert text.startswith("f.yaml:6: spec.parameters.latency:"), text
    assert "used by spec.faults[0].latency, line 12" in text


@pytest.mark.parametrize(("data", "kind"), [(b"- 1\n- 2\n", "a list"), (b"42\n", "a int"),
                                            (b"", "empty"), (b"# only a comment\n", "empty"),
                                            (b"just text", "a str")])
def test_document_must_be_a_mapping(data: bytes, kind: str) -> None:
    assert f"the document is {kind}, expected a mapping" in _refusal(data)


def test_billion_laughs_is_bounded() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    assert "more than 50000 YAML nodes" in _refusal("\n".join(lines).encode())


def test_deep_nesting_is_bounded() -> None:
    assert f"nested deeper than {MAX_DEPTH} levels" in _refusal(b"[" * 60 + b"]" * 60)
    assert f"nested deeper than {MAX_DEPTH} levels" in _refusal(b"[" * 20000 + b"]" * 20000)


def test_recursive_alias_is_bounded() -> None:
    assert "nested deeper than" in _refusal(b"a: &a [*a]\n")


def test_complex_keys_are_refused() -> None:
    assert "mapping keys must be plain strings" in _refusal(b"? [a, b]\n: 1\n")


def test_binary_values_are_refused() -> None:
    assert "binary values are not allowed" in _refusal(b"a: !!binary aGVsbG8=\n")


def test_unknown_tags_are_refused_cleanly() -> None:
    text = _refusal(b"a: !!python/object:os.system ls\n")
    assert text.startswith("f.yaml:1: a: bad value: could not determine a constructor") and "\n" not in text


def test_duplicate_key_carries_the_key_in_the_path() -> None:
    text = PAYMENT.replace("  name: payment-latency\n", "  name: payment-latency\n  name: again\n")
    problem = one_problem(text)
    assert (problem.path, problem.line, problem.message) == ("metadata.name", 7, "duplicate key 'name'")


def test_merge_keys_may_be_overridden() -> None:
    text = dump(BASE).replace("  faults:\n", "  faults:\n") + ""
    text = """apiVersion: aftershock/v1alpha1
kind: Experiment
metadata: {name: exp}
spec:
  target: {namespace: shop}
  parameters:
    base: &b {type: pod-kill, selector: {labels: {app: a}}, duration: 1m}
  faults:
    - <<: *b
      name: f
      duration: 2m
"""
    fault = load(text).experiment.spec.faults[0]
    assert (fault.type, fault.duration) == ("pod-kill", "2m")


def test_duplicate_own_key_next_to_a_merge_is_still_refused() -> None:
    text = """a: &a {x: 1}
b:
  <<: *a
  y: 1
  y: 2
"""
    assert "b.y: duplicate key 'y'" in _refusal(text.encode())


def test_line_numbers_point_at_the_offending_key() -> None:
    bad = PAYMENT.replace('latency: "{{ latency }}"', "latency: soon").replace(
        "        labels: {app: order-service}", "        labels: {app: order-service}\n        color: red")
    lines = bad.splitlines()
    by_path = {p.path: p for p in problems(bad)}
    assert lines[by_path["spec.faults[0].latency"].line - 1].strip() == "latency: soon"
    # a key inside a block mapping: the line of that key, not of the mapping's first key
    assert lines[by_path["spec.faults[0].selector.color"].line - 1].strip() == "color: red"


def test_line_of_a_block_value_is_the_line_of_its_key() -> None:
    bad = PAYMENT.replace("  blastRadius:\n    maxTargets: 2\n", "  blastRadius:\n    maxTargets: 0\n")
    problem = one_problem(bad)
    assert problem.path == "spec.blastRadius.maxTargets"
    assert bad.splitlines()[problem.line - 1].strip() == "maxTargets: 0"
    # an unknown key whose value is a block starts on the key's line, not the value's
    bad = PAYMENT.replace("  blastRadius:\n", "  blastRadiu:\n")
    problem = one_problem(bad)
    assert (problem.path, problem.hint) == ("spec.blastRadiu", "did you mean 'blastRadius'?")
    assert bad.splitlines()[problem.line - 1].strip() == "blastRadiu:"


def test_missing_key_points_at_its_parent() -> None:
    text = dump(with_fault(latency=None))
    problem = one_problem(text)
    fault_line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip() == "- name: f")
    assert (problem.path, problem.line) == ("spec.faults[0].latency", fault_line)
    assert problem.message == "missing required key 'latency'"


def test_misspelt_key_is_one_problem_with_a_hint() -> None:
    problem = one_problem(with_fault(latency=None, latncy="100ms"))
    assert problem.path == "spec.faults[0].latncy"
    assert problem.message == "unknown key 'latncy'"
    assert problem.hint == "did you mean 'latency'?"


def test_unknown_key_without_near_miss_lists_allowed_keys() -> None:
    problem = one_problem(doc(zzz=1))
    assert problem.path == "spec.zzz" and problem.hint.startswith("allowed keys: ")
    assert "faults" in problem.hint and "blastRadius" in problem.hint


def test_unrelated_missing_key_is_still_reported_next_to_an_unknown_one() -> None:
    found = problems(with_fault(latency=None, colour="red"))
    assert {p.message for p in found} == {"unknown key 'colour'", "missing required key 'latency'"}


def test_out_of_range_says_what_was_given() -> None:
    problem = one_problem(with_fault(correlation=150))
    assert problem.path == "spec.faults[0].correlation"
    assert problem.message == "Input should be less than or equal to 100 (got 150)"


def test_wrong_type_says_what_was_given() -> None:
    problem = one_problem(with_fault(latency=[1, 2]))
    assert problem.message.startswith("Input should be a valid string (got list [1, 2])")


def test_every_problem_is_reported_at_once() -> None:
    document = with_fault(correlation=-1, jitter="fast", direction="sideways")
    assert {p.path for p in problems(document)} == {
        "spec.faults[0].correlation", "spec.faults[0].jitter", "spec.faults[0].direction"}


def test_unknown_fault_type_has_a_hint() -> None:
    problem = one_problem(with_fault(type="network-dealy"))
    assert (problem.path, problem.message) == ("spec.faults[0].type", "unknown type 'network-dealy'")
    assert problem.hint == "did you mean 'network-delay'?"


def test_missing_fault_type() -> None:
    problem = one_problem(with_fault(type=None))
    assert (problem.path, problem.message) == ("spec.faults[0].type", "missing required key 'type'")


def test_unknown_policy_action_has_a_hint() -> None:
    document = doc(slos=[{"name": "s", "query": "up", "objective": {"op": "<", "value": 1}}],
                   policies=[{"name": "p", "when": {"slo": "s"}, "action": "rolback"}])
    problem = one_problem(document)
    assert (problem.path, problem.hint) == ("spec.policies[0].action", "did you mean 'rollback'?")


def test_problems_render_file_line_path_message_hint() -> None:
    problem = one_problem(with_fault(latency=None, latncy="100ms"))
    assert problem.render() == (f"x.yaml:{problem.line}: spec.faults[0].latncy: unknown key 'latncy' "
                                "(did you mean 'latency'?)")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for target, message in ((tmp_path / "nope.yaml", "no such file"),
                            (tmp_path, "is a directory, not an experiment file")):
        with pytest.raises(InvalidExperiment) as info:
            load_file(target)
        assert info.value.problems[0].message == message


def test_load_text_returns_rendered_raw_document() -> None:
    loaded = load_text(PAYMENT, "p.yaml", environ={})
    assert loaded.raw["spec"]["faults"][0]["latency"] == "500ms"
    assert loaded.raw["spec"]["monitor"]["prometheus"] == "http://127.0.0.1:9090"
    assert loaded.source == "p.yaml"


@pytest.mark.parametrize(("data", "line"), [(b"\x01", 1), (b"a: 1\nb: \x07\n", 2), (b"a: \x1b[31m", 1)])
def test_control_characters_are_refused_without_a_traceback(data: bytes, line: int) -> None:
    assert _refusal(data).startswith(f"f.yaml:{line}: not valid YAML: unacceptable character")
