"""Field rules of the experiment model: one refused and one accepted example per rule."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.model.durations import format_duration, is_duration, parse_duration

from .helpers import doc, load, one_problem, problems, with_fault

F = "spec.faults[0]"


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("2m", 120), ("1h30m", 5400), ("1.5s", 1.5),
                                               ("10us", 1e-5), ("10µs", 1e-5), ("3ns", 3e-9), ("0s", 0)])
def test_durations_parse(text: str, seconds: float) -> None:
    assert is_duration(text)
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "forever", "1d", "-1s", "1 s", "s", "1.s", "inf", "1e3s"])
def test_bad_durations_are_refused(text: str) -> None:
    assert not is_duration(text)
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(0.5, "500ms"), (120, "2m"), (7200, "2h"), (30, "30s"), (0, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# (fields changed on the only fault, path of the problem, substring of its message)
REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"latency": "soon"}, f"{F}.latency", "'soon' is not a duration"),
    ({"jitter": "1d"}, f"{F}.jitter", "is not a duration"),
    ({"duration": "forever"}, f"{F}.duration", "'forever' is not a duration"),
    ({"duration": "0s"}, f"{F}.duration", "positive duration"),
    ({"duration": "25h"}, f"{F}.duration", "24h limit"),
    ({"duration": None}, f"{F}.duration", "missing required key 'duration'"),
    ({"correlation": 101}, f"{F}.correlation", "less than or equal to 100 (got 101)"),
    ({"correlation": -0.5}, f"{F}.correlation", "greater than or equal to 0 (got -0.5)"),
    ({"correlation": "lots"}, f"{F}.correlation", "valid number"),
    ({"mode": "some"}, f"{F}.mode", "'some' is not allowed"),
    ({"mode": "fixed"}, F, "mode 'fixed' needs 'value'"),
    ({"mode": "fixed", "value": "two"}, F, "must be a whole number"),
    ({"mode": "fixed", "value": "\u0663"}, F, "must be a whole number"),
    ({"mode": "fixed", "value": "0"}, F, "value must be >= 1"),
    ({"mode": "fixed-percent", "value": "0"}, F, "percent in 1..100"),
    ({"mode": "random-max-percent", "value": "101"}, F, "percent in 1..100"),
    ({"mode": "one", "value": "3"}, F, "only used with fixed"),
    ({"direction": "sideways"}, f"{F}.direction", "'sideways' is not allowed"),
    ({"direction": "both"}, F, "needs a 'peer'"),
    ({"peer": {"labels": {"app": "b"}, "mode": "fixed"}}, F, "needs 'value'"),
    ({"name": "Bad_Name"}, f"{F}.name", "not a DNS-1123 label"),
    ({"name": "x" * 64}, f"{F}.name", "not a DNS-1123 label"),
    ({"type": "network-loss", "latency": None, "percent": 100.5}, f"{F}.percent", "(got 100.5)"),
    ({"type": "network-loss", "latency": None}, f"{F}.percent", "missing required key 'percent'"),
    ({"type": "network-duplicate", "latency": None, "percent": -1}, f"{F}.percent", "(got -1)"),
    ({"type": "network-corrupt", "latency": None, "percent": 200}, f"{F}.percent", "(got 200)"),
    ({"type": "network-bandwidth", "latency": None, "rate": "1mb"}, f"{F}.rate", "(got '1mb')"),
    ({"type": "network-bandwidth", "latency": None, "rate": "1mbps", "limit": 0}, f"{F}.limit", "(got 0)"),
    ({"type": "network-bandwidth", "latency": None, "rate": "1mbps", "buffer": 0}, f"{F}.buffer", "(got 0)"),
    ({"type": "http-abort", "latency": None, "code": 99}, f"{F}.code", "(got 99)"),
    ({"type": "http-abort", "latency": None, "port": 70000}, f"{F}.port", "(got 70000)"),
    ({"type": "http-delay", "latency": None, "delay": "later"}, f"{F}.delay", "is not a duration"),
    ({"type": "pod-kill", "latency": None, "gracePeriod": -1}, f"{F}.gracePeriod", "(got -1)"),
    ({"type": "pod-failure", "latency": None, "duration": None}, f"{F}.duration", "missing required key"),
    ({"type": "container-kill", "latency": None, "containerNames": []}, f"{F}.containerNames", "(got 0 items)"),
    ({"type": "cpu-stress", "latency": None, "load": 101}, f"{F}.load", "(got 101)"),
    ({"type": "cpu-stress", "latency": None, "workers": 8193}, f"{F}.workers", "(got 8193)"),
    ({"type": "cpu-stress", "latency": None, "workers": 0}, f"{F}.workers", "(got 0)"),
    ({"type": "memory-stress", "latency": None, "size": "lots"}, f"{F}.size", "'lots' is not a size"),
    ({"type": "chaos-mesh", "latency": None}, f"{F}.manifest", "missing required key 'manifest'"),
    ({"type": "teleport"}, f"{F}.type", "unknown type 'teleport'"),
]


@pytest.mark.parametrize(("fields", "path", "message"), REFUSED, ids=[f"{r[1]}:{r[2][:30]}" for r in REFUSED])
def test_fault_field_rules(fields: dict[str, Any], path: str, message: str) -> None:
    problem = one_problem(with_fault(**fields))
    assert problem.path == path
    assert message in problem.message
    assert problem.file == "x.yaml" and problem.line is not None


ACCEPTED: list[dict[str, Any]] = [
    {"correlation": 0}, {"correlation": 100}, {"correlation": "25"}, {"jitter": "1.5ms"},
    {"duration": "24h"}, {"duration": "1h30m"}, {"mode": "all"}, {"mode": "fixed", "value": 2},
    {"mode": "fixed-percent", "value": "100"}, {"direction": "from", "peer": {"labels": {"app": "b"}}},
    {"peer": {"labels": {"app": "b"}, "mode": "fixed", "value": "1"}},
    {"type": "network-bandwidth", "latency": None, "rate": "10kbps", "limit": 1, "buffer": 1},
    {"type": "pod-failure", "latency": None}, {"type": "cpu-stress", "latency": None, "load": 0, "workers": 8192},
    {"type": "memory-stress", "latency": None, "size": "50%"},
]


@pytest.mark.parametrize("fields", ACCEPTED, ids=[str(a) for a in ACCEPTED])
def test_fault_field_limits_are_accepted(fields: dict[str, Any]) -> None:
    extra = {"blastRadius": {"namespaces": ["shop"], "maxTargets": 5}}
    document = with_fault(**fields)
    document["spec"].update(extra)
    load(document)


def test_value_given_as_a_number_becomes_text() -> None:
    fault = load(with_fault(mode="fixed", value=1)).experiment.spec.faults[0]
    assert fault.value == "1"


DOC_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"target": {"type": "cloud"}}, "spec.target.type", "'cloud' is not allowed"),
    ({"blastRadius": {"maxPercent": 0}}, "spec.blastRadius.maxPercent", "(got 0)"),
    ({"blastRadius": {"maxPercent": 101}}, "spec.blastRadius.maxPercent", "(got 101)"),
    ({"blastRadius": {"maxTargets": 0}}, "spec.blastRadius.maxTargets", "(got 0)"),
    ({"faults": []}, "spec.faults", "(got 0 items)"),
    ({"schedule": {"cron": "every day"}}, "spec.schedule.cron", "is not a cron expression"),
    ({"schedule": {"cron": "0 10 * * 5", "timezone": "Mars/Olympus"}}, "spec.schedule.timezone",
     "not an IANA time zone"),
    ({"monitor": {"interval": "often"}}, "spec.monitor.interval", "is not a duration"),
    ({"monitor": {"onError": "panic"}}, "spec.monitor.onError", "'panic' is not allowed"),
    ({"monitor": {"errorTolerance": 0}}, "spec.monitor.errorTolerance", "(got 0)"),
    ({"slos": [{"name": "s", "query": "", "objective": {"op": "<", "value": 1}}]}, "spec.slos[0].query",
     "at least 1 character"),
    ({"slos": [{"name": "s", "query": "up", "objective": {"op": "=<", "value": 1}}]},
     "spec.slos[0].objective.op", "'=<' is not allowed"),
    ({"slos": [{"name": "s", "query": "up", "objective": {"op": "<", "value": "high"}}]},
     "spec.slos[0].objective.value", "valid number"),
    ({"slos": [{"name": "s", "query": "up", "objective": {"op": "<", "value": 1}, "for": "1 minute"}]},
     "spec.slos[0].for", "is not a duration"),
]


@pytest.mark.parametrize(("spec", "path", "message"), DOC_REFUSED, ids=[r[1] for r in DOC_REFUSED])
def test_document_field_rules(spec: dict[str, Any], path: str, message: str) -> None:
    problem = one_problem(doc(**spec))
    assert problem.path == path
    assert message in problem.message


def test_metadata_name_must_be_a_dns_label() -> None:
    document = doc()
    document["metadata"]["name"] = "Payment_Latency"
    problem = one_problem(document)
    assert problem.path == "metadata.name" and "DNS-1123" in problem.message


@pytest.mark.parametrize(("key", "value", "message"), [("apiVersion", "aftershock/v2", "is not allowed"),
                                                      ("kind", "Experimnt", "is not allowed")])
def test_api_version_and_kind(key: str, value: str, message: str) -> None:
    document = doc()
    document[key] = value
    problem = one_problem(document)
    assert problem.path == key and message in problem.message


SLOS = [{"name": "s", "query": "up", "objective": {"op": "<", "value": 1}}]

POLICY_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"action": "degrade"}, "spec.policies[0].with", "missing required key 'with'"),
    ({"action": "degrade", "with": {}}, "spec.policies[0].with", "exactly one of 'http' or 'kubernetes'"),
    ({"action": "degrade", "with": {"http": {"url": "ftp://x"}}}, "spec.policies[0].with.http.url", "ftp://x"),
    ({"action": "degrade", "with": {"kubernetes": {"patch": {"kind": "ConfigMap", "name": "f"}}}},
     "spec.policies[0].with.kubernetes.patch", "needs data, env or annotations"),
    ({"action": "circuit-break", "with": {"service": "gw", "weight": 101}}, "spec.policies[0].with.weight",
     "(got 101)"),
    ({"action": "shrink", "with": {"fault": "f"}}, "spec.policies[0].with", "at least one of"),
    ({"action": "notify", "with": {"url": "mailto:x"}}, "spec.policies[0].with.url", "mailto:x"),
    ({"action": "rollback", "when": {"slo": "s", "consecutive": 0}}, "spec.policies[0].when.consecutive",
     "(got 0)"),
    ({"action": "abort", "with": {"now": True}}, "spec.policies[0].with.now", "unknown key 'now'"),
]


@pytest.mark.parametrize(("policy", "path", "message"), POLICY_REFUSED, ids=[r[1] + r[2][:20] for r in POLICY_REFUSED])
def test_policy_rules(policy: dict[str, Any], path: str, message: str) -> None:
    full = {"name": "p", "when": {"slo": "s"}, **policy}
    found = problems(doc(slos=SLOS, policies=[full]))
    assert len(found) == 1, [p.render() for p in found]
    assert found[0].path == path
    assert message in found[0].message
