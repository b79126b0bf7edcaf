"""Differential test: Aftershock's Chaos Mesh rules against Chaos Mesh itself.

Hypothesis draws faults from value pools that mix valid and invalid values (compound and ``µs``
durations, decimal rates, memory sizes over 100 %, partitions with external targets, ...). Each
draw is judged twice on each side:

* **experiment level**: ours = the experiment model + the Kubernetes compiler + ``crd_rules``;
  Chaos Mesh = its defaulting + validation webhooks (Go, the chaos-mesh ``api`` module) and the CRD
  schema of the real kube-apiserver (server-side dry run). When ours accepts, Chaos Mesh judges the
  object we compiled; when ours refuses, it judges the object the same values would make.
* **object level**: ``crd_rules.validate_object`` (what raw ``chaos-mesh`` faults go through) on that
  object against Chaos Mesh's verdict on it.

Every disagreement fails the test, except the rules where Aftershock is stricter on purpose
(:func:`stricter_on_purpose` names each one). One run judges >= 2,000 objects: a fixed seed and a
random one, printed (set ``AFTERSHOCK_DIFF_SEED`` to replay it).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chaos.compiling.crd_rules import validate_object
from chaos.compiling.kubernetes import compile_experiment
from chaos.errors import ChaosError
from chaos.model.experiment import Experiment
from kube.judges import ChaosMeshJudge
from kube.testbed import Testbed

EXAMPLES_PER_SEED = int(os.environ.get("AFTERSHOCK_DIFF_EXAMPLES", "700"))
FIXED_SEED = 20261130
RANDOM_SEED = int(os.environ.get("AFTERSHOCK_DIFF_SEED") or random.SystemRandom().randrange(2**32))
RUN_ID = "diff01"
LABELS = {"app.kubernetes.io/managed-by": "aftershock", "aftershock.io/experiment": "diff",
          "aftershock.io/run-id": RUN_ID}

# Each pool: (usual values, unusual or invalid ones); a draw takes an unusual one one time in four,
# so most examples have at most one or two odd values and a disagreement is not hidden behind another.
NETEM_TIMES = (["500ms", "1s", "1.5s", "2m", "100us", "250ns", "1h", "0ms"],
               ["1m30s", "1s500ms", "10µs", "5", "", "-1s", ".5s", "1.ms"])
FAULT_DURATIONS = (["30s", "2m", "1h30m", "500ms", "24h", "1m30s"], ["25h", "10µs", "0s", "-5s", "soon", "1.5h"])
HTTP_DELAYS = (["2s", "1m30s", "150ms", "1.5s"], ["10µs", "x", "-1s", "0"])
PERCENTS = ([0, 1, 12.5, 50, 100], [101, -1, 0.001])
RATES = (["1mbps", "10kbps", "100bps", "1gbps", "2tbps"],
         ["1.5mbps", "0.5kbps", "1Mbps", "1mbit", "1 mbps", "mbps", "-1mbps", "10KBPS", "8bit"])
SIZES = (["256MB", "1GB", "256MiB", "1GiB", "100%", "50%", "10KB"],
         ["1.5GB", "0%", "150%", "101%", "256mb", "1024", "256 MB", "lots", "-5%", "1e3", "2P", "+5%"])
MODES = ([("one", ""), ("all", ""), ("fixed", "1"), ("fixed", "3"), ("fixed-percent", "50"),
          ("fixed-percent", "100"), ("random-max-percent", "30")],
         [("fixed", "0"), ("fixed-percent", "0"), ("fixed-percent", "101"), ("fixed", "1.5"),
          ("fixed-percent", "abc"), ("one", "2"), ("fixed", "+3"), ("fixed", "03")])
EXPRESSIONS = ([[], [{"key": "tier", "operator": "In", "values": ["web", "api"]}],
                [{"key": "canary", "operator": "DoesNotExist"}]],
               [[{"key": "tier", "operator": "Exists", "values": ["x"]}],
                [{"key": "tier", "operator": "Near", "values": ["x"]}]])
NODE_SELECTORS: tuple[list[dict[str, str]], list[dict[str, str]]] = ([{}, {"disk": "ssd"}], [])
METHODS = ([None, "GET", "POST"], ["get", "FETCH", "PATCH"])
CODES = ([200, 404, 503, 599], [600, 99, 0])


def pick(draw: st.DrawFn, pool: tuple[list[Any], list[Any]]) -> Any:
    usual, unusual = pool
    if unusual and draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(unusual))
    return draw(st.sampled_from(usual))


@st.composite
def raw_faults(draw: st.DrawFn) -> dict[str, Any]:
    """Values of one fault, valid or not, before they are spelled for either side."""
    kind = draw(st.sampled_from(["network-delay", "network-loss", "network-partition", "network-bandwidth",
                                 "network-duplicate", "network-corrupt", "http-abort", "http-status",
                                 "http-patch", "http-delay", "pod-kill", "pod-failure", "container-kill",
                                 "cpu-stress", "memory-stress"]))
    mode, value = pick(draw, MODES)
    raw: dict[str, Any] = {"type": kind, "mode": mode, "value": value,
                           "duration": pick(draw, FAULT_DURATIONS),
                           "expressions": pick(draw, EXPRESSIONS),
                           "node_selectors": pick(draw, NODE_SELECTORS)}
    if kind.startswith("network-"):
        raw["direction"] = draw(st.sampled_from(["to", "from", "both"]))
        raw["peer"] = draw(st.booleans())
        raw["external"] = draw(st.sampled_from([[], ["10.0.0.1"], ["example.com", "10.0.0.2"]]))
    if kind == "network-delay":
        raw.update(latency=pick(draw, NETEM_TIMES), jitter=pick(draw, NETEM_TIMES),
                   correlation=pick(draw, PERCENTS),
                   reorder=draw(st.sampled_from([None, (25, 0, 5), (150, 10, 1), (50, 50, -1)])))
    elif kind in ("network-loss", "network-duplicate", "network-corrupt"):
        raw.update(percent=pick(draw, PERCENTS), correlation=pick(draw, PERCENTS))
    elif kind == "network-bandwidth":
        raw.update(rate=pick(draw, RATES), limit=draw(st.sampled_from([20971520, 1, 0])),
                   buffer=draw(st.sampled_from([10000, 1, 0])))
    elif kind.startswith("http-"):
        raw.update(port=draw(st.sampled_from([80, 8080, 0, 65535])), method=pick(draw, METHODS),
                   path=draw(st.sampled_from([None, "/api/*"])),
                   tls=draw(st.sampled_from([None, "ok", "partial"])))
        if kind == "http-status":
            raw["code"] = pick(draw, CODES)
        if kind == "http-delay":
            raw["delay"] = pick(draw, HTTP_DELAYS)
        if kind == "http-patch":
            raw["target"] = draw(st.sampled_from(["Request", "Response"]))
            raw["headers"] = draw(st.sampled_from([[["x-chaos", "1"]], []]))
            raw["body"] = draw(st.sampled_from([None, '{"a": 1}']))
    elif kind == "pod-kill":
        raw["grace"] = draw(st.sampled_from([0, 5, -1]))
    elif kind == "container-kill":
        raw["containers"] = draw(st.sampled_from([["app"], []]))
    elif kind == "cpu-stress":
        raw.update(workers=draw(st.sampled_from([1, 4, 8192, 8193, 0])), load=draw(st.sampled_from([0, 50, 100, 101])),
                   options=draw(st.sampled_from([[], ["--cpu-method", "fft"]])))
    elif kind == "memory-stress":
        raw.update(workers=draw(st.sampled_from([1, 4, 8193, 0])), size=pick(draw, SIZES),
                   options=draw(st.sampled_from([[], ["--vm-hang", "0"]])))
    return raw


def _num(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, int | float) else value


def experiment_of(raw: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The experiment document of ``raw`` (Aftershock's spelling)."""
    kind = raw["type"]
    fault: dict[str, Any] = {"name": "f", "type": kind, "mode": raw["mode"], "duration": raw["duration"],
                             "selector": {"labels": {"app": "web"}}}
    if raw["value"]:
        fault["value"] = raw["value"]
    if raw["expressions"]:
        fault["selector"]["expressions"] = raw["expressions"]
    if raw["node_selectors"]:
        fault["selector"]["nodeSelectors"] = raw["node_selectors"]
    if kind.startswith("network-"):
        fault["direction"] = raw["direction"]
        peer: dict[str, Any] = {}
        if raw["peer"]:
            peer["labels"] = {"app": "db"}
        if raw["external"]:
            peer["externalTargets"] = raw["external"]
        if peer:
            fault["peer"] = peer
    for key in ("latency", "jitter", "correlation", "percent", "rate", "limit", "buffer", "port", "method",
                "path", "code", "delay", "target", "headers", "body", "workers", "load", "size", "options"):
        if raw.get(key) is not None:
            fault[key] = raw[key]
    if raw.get("reorder"):
        percent, correlation, gap = raw["reorder"]
        fault["reorder"] = {"percent": percent, "correlation": correlation, "gap": gap}
    if raw.get("tls"):
        fault["tls"] = {"secretName": "certs", "secretNamespace": namespace, "certName": "tls.crt",
                        **({"keyName": "tls.key"} if raw["tls"] == "ok" else {})}
    if "grace" in raw:
        fault["gracePeriod"] = raw["grace"]
    if "containers" in raw:
        fault["containerNames"] = raw["containers"]
    return {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": {"name": "diff"},
            "spec": {"target": {"type": "kubernetes", "namespace": namespace},
                     "blastRadius": {"namespaces": [namespace]}, "faults": [fault]}}


def object_of(raw: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The Chaos Mesh object the same values make (Chaos Mesh's spelling), whatever ours says."""
    kind = raw["type"]
    selector: dict[str, Any] = {"namespaces": [namespace], "labelSelectors": {"app": "web"}}
    if raw["expressions"]:
        selector["expressionSelectors"] = raw["expressions"]
    if raw["node_selectors"]:
        selector["nodeSelectors"] = raw["node_selectors"]
    spec: dict[str, Any] = {"mode": raw["mode"], "selector": selector, "duration": raw["duration"]}
    if raw["value"]:
        spec["value"] = raw["value"]
    if kind.startswith("network-"):
        api_kind = "NetworkChaos"
        action = kind.removeprefix("network-").replace("-", "")
        spec.update(action=action, direction=raw["direction"])
        if raw["peer"]:
            spec["target"] = {"mode": "all", "selector": {"namespaces": [namespace],
                                                          "labelSelectors": {"app": "db"}}}
        if raw["external"]:
            spec["externalTargets"] = raw["external"]
        if action == "delay":
            spec["delay"] = {"latency": raw["latency"], "jitter": raw["jitter"],
                             "correlation": _num(raw["correlation"])}
            if raw["reorder"]:
                percent, correlation, gap = raw["reorder"]
                spec["delay"]["reorder"] = {"reorder": _num(percent), "correlation": _num(correlation), "gap": gap}
        elif action in ("loss", "duplicate", "corrupt"):
            spec[action] = {action: _num(raw["percent"]), "correlation": _num(raw["correlation"])}
        elif action == "bandwidth":
            spec["bandwidth"] = {"rate": raw["rate"], "limit": raw["limit"], "buffer": raw["buffer"]}
    elif kind.startswith("http-"):
        api_kind = "HTTPChaos"
        spec["port"] = raw["port"]
        for key in ("method", "path"):
            if raw.get(key) is not None:
                spec[key] = raw[key]
        if raw["tls"]:
            spec["tls"] = {"secretName": "certs", "secretNamespace": namespace, "certName": "tls.crt",
                           **({"keyName": "tls.key"} if raw["tls"] == "ok" else {})}
        if kind == "http-abort":
            spec.update(target="Request", abort=True)
        elif kind == "http-status":
            spec.update(target="Response", replace={"code": raw["code"]})
        elif kind == "http-delay":
            spec.update(target="Request", delay=raw["delay"])
        else:
            patch: dict[str, Any] = {}
            if raw["headers"]:
                patch["headers"] = raw["headers"]
            if raw["body"] is not None:
                patch["body"] = {"type": "JSON", "value": raw["body"]}
            spec.update(target=raw["target"], patch=patch)
    elif kind in ("pod-kill", "pod-failure", "container-kill"):
        api_kind = "PodChaos"
        spec["action"] = kind
        if kind == "pod-kill":
            spec["gracePeriod"] = raw["grace"]
        if kind == "container-kill":
            spec["containerNames"] = raw["containers"]
    else:
        api_kind = "StressChaos"
        if kind == "cpu-stress":
            stressor: dict[str, Any] = {"workers": raw["workers"], "load": raw["load"]}
        else:
            stressor = {"workers": raw["workers"], "size": raw["size"]}
        if raw["options"]:
            stressor["options"] = raw["options"]
        spec["stressors"] = {"cpu" if kind == "cpu-stress" else "memory": stressor}
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": api_kind,
            "metadata": {"name": "diff-f-diff01", "namespace": namespace, "labels": dict(LABELS)},
            "spec": spec}


def _go_seconds(text: str) -> float | None:
    from chaos.compiling.crd_rules import GO_DURATION_RE, go_duration_seconds
    return go_duration_seconds(text) if GO_DURATION_RE.match(text) else None


def stricter_on_purpose(raw: dict[str, Any], level: str) -> str | None:
    """Why Aftershock refuses values Chaos Mesh takes, when that is deliberate (else None)."""
    seconds = _go_seconds(raw["duration"])
    if seconds is not None and not 0 < seconds <= 24 * 3600:
        return "every fault is bounded: duration > 0 and <= 24h"
    for key in ("percent", "correlation"):
        if isinstance(raw.get(key), int | float) and not 0 <= raw[key] <= 100:
            return f"{key} is a percentage (Chaos Mesh parses any float)"
    if raw.get("reorder") and not all(0 <= v <= 100 for v in raw["reorder"][:2]):
        return "reorder percentages stay within 0-100"
    if raw.get("reorder") and raw["reorder"][2] < 0:
        return "reorder gap is a count (>= 0)"
    if raw.get("workers") == 0:
        return "stress workers >= 1 (0 means one per CPU in stress-ng: an unbounded blast radius)"
    if raw["value"].startswith("+"):
        return "value is written as plain digits (Chaos Mesh's Atoi also takes a sign)"
    if raw.get("size") in ("1e3", "+5%"):
        return "a memory size is digits and a unit (Chaos Mesh's parser also takes exponents and signs)"
    if isinstance(raw.get("code"), int) and not 100 <= raw["code"] <= 599:
        return "an HTTP status code is 100-599 (Chaos Mesh takes any int32)"
    if raw.get("delay") is not None and level == "experiment":
        delay = _go_seconds(raw["delay"])
        if delay is not None and delay <= 0:
            return "an HTTP delay is positive"
    if raw.get("tls") == "partial":
        return ("tls names its key (Chaos Mesh's defaulting webhook fills a missing keyName with \"\", "
                "which fails only at injection)")
    if any(e["operator"] not in ("In", "NotIn", "Exists", "DoesNotExist")
           or (e["operator"] in ("Exists", "DoesNotExist")) == bool(e.get("values"))
           for e in raw["expressions"]) and level == "experiment":
        return ("label requirements are checked as Kubernetes checks them (Chaos Mesh fails only when "
                "it selects pods)")
    if raw["type"] == "network-partition" and raw["direction"] != "to" and not raw["peer"] and not raw["external"]:
        return "a from/both partition needs a peer (Chaos Mesh's webhook skips its checks for partition)"
    if level == "experiment":
        if raw["mode"] in ("one", "all") and raw["value"]:
            return "value is refused with modes one/all (it would be ignored)"
        if raw["type"] == "http-patch" and not (raw["headers"] or raw["body"]):
            return "http-patch needs something to patch"
        methods = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT")
        if (raw["type"].startswith("http-") and raw["method"] is not None and raw["method"] not in methods
                and (raw["type"] == "http-status" or raw.get("target") == "Response")):
            return "method is checked whatever the target (Chaos Mesh checks it on requests only)"
    return None


def ours_experiment(raw: dict[str, Any], namespace: str) -> tuple[bool, str, dict[str, Any] | None]:
    try:
        exp = Experiment.model_validate(experiment_of(raw, namespace))
        (compiled,) = compile_experiment(exp, RUN_ID, source="diff.yaml")
    except (ValidationError, ChaosError) as exc:
        return False, str(exc).splitlines()[0 if isinstance(exc, ChaosError) else 1][:200], None
    return True, "", compiled.body


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.disagreements: dict[str, tuple[dict[str, Any], str]] = {}
        self.on_purpose: Counter[str] = Counter()

    def record(self, level: str, raw: dict[str, Any], ours: tuple[bool, str], theirs: tuple[bool, str]) -> None:
        self.counts[f"{level} judged"] += 1
        self.counts[f"{level} agree {'accept' if ours[0] else 'refuse'}" if ours[0] == theirs[0]
                    else f"{level} disagree"] += 1
        if ours[0] == theirs[0]:
            return
        if not ours[0]:
            reason = stricter_on_purpose(raw, level)
            if reason:
                self.on_purpose[reason] += 1
                return
        key = f"{level}: ours {'accepts' if ours[0] else 'refuses'} ({ours[1]}), Chaos Mesh {'accepts' if theirs[0] else 'refuses'} ({theirs[1]})"
        signature = f"{level}|{raw['type']}|{ours[0]}|{ours[1][:60]}|{theirs[1][:60]}"
        self.disagreements.setdefault(signature, (raw, key))


@pytest.fixture(scope="module")
def judge(kube_testbed: Testbed) -> Iterator[ChaosMeshJudge]:
    namespace = kube_testbed.namespace("diff")
    with kube_testbed.admin() as api:
        j = ChaosMeshJudge(kube_testbed.oracle, api, namespace)
        try:
            yield j
        finally:
            j.close()


def _run(judge: ChaosMeshJudge, tally: Tally, raw: dict[str, Any]) -> None:
    ns = judge.namespace
    ok, why, compiled = ours_experiment(raw, ns)
    reference = object_of(raw, ns)
    theirs_ref = judge.judge(reference)
    if compiled is not None:
        theirs = judge.judge(compiled)
        tally.record("experiment", raw, (ok, why), (theirs.accepted, theirs.why))
    else:
        tally.record("experiment", raw, (ok, why), (theirs_ref.accepted, theirs_ref.why))
    problems = validate_object(reference)
    ours_obj = (not problems, "; ".join(f"{p.path}: {p.message}" for p in problems)[:200])
    tally.record("object", raw, ours_obj, (theirs_ref.accepted, theirs_ref.why))


def _differential(judge: ChaosMeshJudge, which: int) -> Tally:
    tally = Tally()

    @settings(max_examples=EXAMPLES_PER_SEED, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(raw_faults())
    def examples(raw: dict[str, Any]) -> None:
        _run(judge, tally, raw)

    seed(which)(examples)()
    return tally


def _report(tally: Tally, which: int) -> str:
    lines = [f"seed {which}: {dict(tally.counts)}", f"stricter on purpose: {dict(tally.on_purpose)}"]
    lines += [f"DISAGREEMENT {key}\n    values: {raw}" for raw, key in tally.disagreements.values()]
    return "\n".join(lines)


@pytest.mark.parametrize("which", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", "random-seed"])
def test_our_rules_agree_with_chaos_mesh(judge: ChaosMeshJudge, which: int,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    tally = _differential(judge, which)
    report = _report(tally, which)
    with capsys.disabled():
        print(f"\n[differential] AFTERSHOCK_DIFF_SEED={which}\n{report}")
    judged = tally.counts["experiment judged"] + tally.counts["object judged"]
    assert judged >= 2 * EXAMPLES_PER_SEED * 0.9, report
    assert not tally.disagreements, report
