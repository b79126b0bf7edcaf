"""The Chaos Mesh CRD field rules, checked on every object before it is printed or created.

Mirrors what the chaos-mesh.org/v1alpha1 CRDs and webhooks enforce (enums of action, mode,
direction; ``value`` for fixed/percent modes; Go durations, and the CRD's one-unit pattern for
netem latency/jitter; bandwidth rates as the webhook parses them; memory sizes; the netem
direction/target rules; PodChaos/StressChaos/HTTPChaos specifics) plus our own, stricter on
purpose: every object is bounded (``spec.duration`` > 0 and <= 24h), labelled as ours, and
percentages stay within 0-100. tests/kube/test_differential.py judges generated objects with
these rules and with Chaos Mesh's own webhook code plus the real API server; every rule where
the two differ on purpose is listed there. Pure; used by the Kubernetes compiler, raw
``chaos-mesh`` faults and the tests.
"""

from __future__ import annotations

import re
from typing import Any

from chaos.compiling import naming
from chaos.errors import Problem
from chaos.model.faults import (
    BANDWIDTH_RATE_PATTERN,
    MAX_FAULT_DURATION_S,
    MEMORY_SIZE_PATTERN,
    NETEM_DURATION_PATTERN,
)

API_VERSION = "chaos-mesh.org/v1alpha1"
KINDS = frozenset({"NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos", "IOChaos", "TimeChaos",
                   "DNSChaos", "KernelChaos", "JVMChaos"})
MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")
NETWORK_ACTIONS = ("netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth")
POD_ACTIONS = ("pod-kill", "pod-failure", "container-kill")
DIRECTIONS = ("to", "from", "both")
GO_DURATION_RE = re.compile(r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$")
"""Go ``time.ParseDuration`` syntax, as Chaos Mesh's webhook parses ``duration``: ``2m``, ``1h30m``."""
_GO_PART_RE = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
NETEM_TIME_RE = re.compile(NETEM_DURATION_PATTERN)
"""The NetworkChaos CRD pattern of ``delay.latency``/``jitter``: one number, one unit."""
RATE_RE = re.compile(BANDWIDTH_RATE_PATTERN)
"""Bandwidth rates as Chaos Mesh's webhook parses them: an unsigned integer and a unit."""
SIZE_RE = re.compile(MEMORY_SIZE_PATTERN)
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _Check:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(message, path=path, hint=hint))

    def enum(self, path: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")

    def time(self, path: str, value: Any, required: bool = False, netem: bool = False) -> None:
        if value is None or (value == "" and netem and not required):
            # An empty optional string is dropped by Chaos Mesh's defaulting webhook (omitempty).
            if required:
                self.fail(path, "required")
            return
        if netem:
            if not isinstance(value, str) or not NETEM_TIME_RE.match(value):
                self.fail(path, f"{value!r} must be one number and one unit (ns, us, ms, s, m, h), "
                          "e.g. 90s rather than 1m30s")
        elif not isinstance(value, str) or not GO_DURATION_RE.match(value):
            self.fail(path, f"{value!r} is not a duration (e.g. 500ms, 2m, 1h30m)")

    def percent_text(self, path: str, value: Any) -> None:
        if not isinstance(value, str):
            self.fail(path, f"must be a string percentage such as \"30\", got {value!r}")
            return
        try:
            number = float(value)
        except ValueError:
            self.fail(path, f"{value!r} is not a number")
            return
        if not 0 <= number <= 100:
            self.fail(path, f"{value} is outside 0-100")

    def int_range(self, path: str, value: Any, low: int, high: int | None = None) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f"must be an integer, got {value!r}")
        elif value < low or (high is not None and value > high):
            self.fail(path, f"{value} is outside {low}..{high if high is not None else '∞'}")


def validate_object(body: Any, require_ours: bool = True) -> list[Problem]:
    """Every rule ``body`` breaks (empty when Chaos Mesh would accept it and it is bounded)."""
    c = _Check()
    if not isinstance(body, dict):
        c.fail("", "a Chaos Mesh object must be a mapping")
        return c.problems
    if body.get("apiVersion") != API_VERSION:
        c.fail("apiVersion", f"must be {API_VERSION}, got {body.get('apiVersion')!r}")
    kind = body.get("kind")
    if kind not in KINDS:
        c.fail("kind", f"{kind!r} is not a Chaos Mesh kind ({', '.join(sorted(KINDS))})")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        c.fail("metadata", "required mapping")
        meta = {}
    name = meta.get("name")
    if not isinstance(name, str) or len(name) > 63 or not DNS_SUBDOMAIN_RE.match(name):
        c.fail("metadata.name", f"{name!r} is not a DNS-1123 name of at most 63 characters")
    if require_ours:
        labels = meta.get("labels") or {}
        if not isinstance(labels, dict) or labels.get(naming.MANAGED_BY) != naming.OURS:
            c.fail("metadata.labels", f"must carry {naming.MANAGED_BY}: {naming.OURS}")
        elif not labels.get(naming.RUN_LABEL):
            c.fail("metadata.labels", f"must carry {naming.RUN_LABEL}")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        c.fail("spec", "required mapping")
        return c.problems
    _common(c, spec, kind)
    if kind == "NetworkChaos":
        _network(c, spec)
    elif kind == "PodChaos":
        _pod(c, spec)
    elif kind == "StressChaos":
        _stress(c, spec)
    elif kind == "HTTPChaos":
        _http(c, spec)
    return c.problems


def go_duration_seconds(text: str) -> float:
    """Seconds of a Go duration already matched by :data:`GO_DURATION_RE`."""
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(num) * _GO_UNITS[unit] for num, unit in _GO_PART_RE.findall(text.lstrip("+-")))


def _mode_value(c: _Check, path: str, mode: Any, value: Any) -> None:
    c.enum(f"{path}mode", mode, MODES)
    if mode in ("fixed", "fixed-percent", "random-max-percent"):
        if value in (None, ""):
            c.fail(f"{path}value", f"required for mode {mode}")
            return
        text = str(value)
        if not re.fullmatch(r"[0-9]+", text):
            c.fail(f"{path}value", f"{value!r} must be a whole number")
        elif mode == "fixed" and int(text) < 1:
            c.fail(f"{path}value", "must be >= 1 for mode fixed")
        elif mode != "fixed" and not 0 < int(text) <= 100:
            c.fail(f"{path}value", f"{text} must be a percent in 1..100")


def _common(c: _Check, spec: dict[str, Any], kind: Any) -> None:
    _mode_value(c, "spec.", spec.get("mode"), spec.get("value"))
    if not isinstance(spec.get("selector"), dict):
        c.fail("spec.selector", "required mapping")
    duration = spec.get("duration")
    if duration is None:
        c.fail("spec.duration", "every fault must be bounded: set a duration", hint="e.g. duration: 2m")
    else:
        c.time("spec.duration", duration)
        if isinstance(duration, str) and GO_DURATION_RE.match(duration):
            seconds = go_duration_seconds(duration)
            if seconds <= 0 or seconds > MAX_FAULT_DURATION_S:
                c.fail("spec.duration", f"{duration} must be > 0 and at most 24h")


def _network(c: _Check, spec: dict[str, Any]) -> None:
    action = spec.get("action")
    c.enum("spec.action", action, NETWORK_ACTIONS)
    direction = spec.get("direction", "to")
    c.enum("spec.direction", direction, DIRECTIONS)
    target = spec.get("target")
    external = spec.get("externalTargets")
    if external is not None and (not isinstance(external, list)
                                 or not all(isinstance(e, str) for e in external)):
        c.fail("spec.externalTargets", "must be a list of addresses or host names")
    if direction in ("from", "both"):
        if action == "partition":
            if not target and not external:
                c.fail("spec.target", f"direction {direction} needs a target or externalTargets")
        else:
            if not target:
                c.fail("spec.target", f"direction {direction} needs a target")
            if external is not None:
                c.fail("spec.externalTargets", f"externalTargets cannot be used with direction {direction} "
                       f"by action {action} (only by partition)")
    if target is not None:
        if not isinstance(target, dict) or not isinstance(target.get("selector"), dict):
            c.fail("spec.target", "needs mode and selector")
        else:
            _mode_value(c, "spec.target.", target.get("mode"), target.get("value"))
    if action in ("delay", "netem"):
        delay = spec.get("delay")
        if not isinstance(delay, dict):
            if action == "delay":
                c.fail("spec.delay", "required for action delay")
        else:
            c.time("spec.delay.latency", delay.get("latency"), required=True, netem=True)
            c.time("spec.delay.jitter", delay.get("jitter"), netem=True)
            if "correlation" in delay:
                c.percent_text("spec.delay.correlation", delay["correlation"])
            reorder = delay.get("reorder")
            if reorder is not None:
                if not isinstance(reorder, dict):
                    c.fail("spec.delay.reorder", "must be a mapping with reorder and gap")
                else:
                    c.percent_text("spec.delay.reorder.reorder", reorder.get("reorder"))
                    if "correlation" in reorder:
                        c.percent_text("spec.delay.reorder.correlation", reorder["correlation"])
                    c.int_range("spec.delay.reorder.gap", reorder.get("gap"), 0)
    for key in ("loss", "duplicate", "corrupt"):
        if action == key:
            block = spec.get(key)
            if not isinstance(block, dict):
                c.fail(f"spec.{key}", f"required for action {key}")
                continue
            c.percent_text(f"spec.{key}.{key}", block.get(key))
            if "correlation" in block:
                c.percent_text(f"spec.{key}.correlation", block["correlation"])
    if action == "bandwidth":
        bw = spec.get("bandwidth")
        if not isinstance(bw, dict):
            c.fail("spec.bandwidth", "required for action bandwidth")
        else:
            rate = bw.get("rate")
            if not isinstance(rate, str) or not RATE_RE.match(rate):
                c.fail("spec.bandwidth.rate", f"{rate!r} must be a whole number and a unit such as "
                       "1mbps (bps, kbps, mbps, gbps, tbps, bit, kbit, mbit, gbit, tbit)")
            c.int_range("spec.bandwidth.limit", bw.get("limit"), 1, 2**31 - 1)
            c.int_range("spec.bandwidth.buffer", bw.get("buffer"), 1, 2**31 - 1)
            for key in ("peakrate", "minburst"):
                if bw.get(key) is not None:
                    c.int_range(f"spec.bandwidth.{key}", bw[key], 0, 2**63 - 1 if key == "peakrate"
                                else 2**31 - 1)


def _pod(c: _Check, spec: dict[str, Any]) -> None:
    action = spec.get("action")
    c.enum("spec.action", action, POD_ACTIONS)
    if action == "container-kill" and not spec.get("containerNames"):
        c.fail("spec.containerNames", "required for container-kill")
    if "gracePeriod" in spec:
        c.int_range("spec.gracePeriod", spec["gracePeriod"], 0)


def _stress(c: _Check, spec: dict[str, Any]) -> None:
    stressors = spec.get("stressors")
    if not isinstance(stressors, dict) or not (stressors.get("cpu") or stressors.get("memory")):
        c.fail("spec.stressors", "needs cpu or memory")
        return
    cpu = stressors.get("cpu")
    if isinstance(cpu, dict):
        c.int_range("spec.stressors.cpu.workers", cpu.get("workers"), 1, 8192)
        if "load" in cpu:
            c.int_range("spec.stressors.cpu.load", cpu["load"], 0, 100)
        _options(c, "spec.stressors.cpu.options", cpu.get("options"))
    mem = stressors.get("memory")
    if isinstance(mem, dict):
        c.int_range("spec.stressors.memory.workers", mem.get("workers"), 1, 8192)
        size = mem.get("size")
        if size is not None and (not isinstance(size, str) or not SIZE_RE.match(size)):
            c.fail("spec.stressors.memory.size", f"{size!r} must be a size such as 256MB, 1.5GiB or 50%")
        elif isinstance(size, str) and size.endswith("%") and int(size[:-1]) > 100:
            c.fail("spec.stressors.memory.size", f"{size} is more than 100%")
        if "oomScoreAdj" in mem:
            c.int_range("spec.stressors.memory.oomScoreAdj", mem["oomScoreAdj"], -1000, 1000)
        _options(c, "spec.stressors.memory.options", mem.get("options"))


def _options(c: _Check, path: str, value: Any) -> None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(o, str) for o in value)):
        c.fail(path, "must be a list of stress-ng options (strings)")


HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT")


def _http(c: _Check, spec: dict[str, Any]) -> None:
    target = spec.get("target")
    c.enum("spec.target", target, ("Request", "Response"))
    c.int_range("spec.port", spec.get("port"), 1, 2**31 - 1)
    if target == "Request" and spec.get("method") is not None:
        c.enum("spec.method", spec.get("method"), HTTP_METHODS)
    if not any(k in spec for k in ("abort", "delay", "replace", "patch")):
        c.fail("spec", "HTTPChaos needs one of abort, delay, replace, patch")
    if "delay" in spec:
        c.time("spec.delay", spec["delay"], required=True)
    replace = spec.get("replace")
    if isinstance(replace, dict) and "code" in replace:
        c.int_range("spec.replace.code", replace["code"], 100, 599)
    patch = spec.get("patch")
    if isinstance(patch, dict):
        for key in ("headers", "queries"):
            pairs = patch.get(key)
            if pairs is not None and (not isinstance(pairs, list) or not all(
                    isinstance(p, list) and all(isinstance(x, str) for x in p) for p in pairs)):
                c.fail(f"spec.patch.{key}", "must be a list of [name, value] pairs")
        body = patch.get("body")
        if body is not None and (not isinstance(body, dict) or not isinstance(body.get("type"), str)
                                 or not isinstance(body.get("value"), str)):
            c.fail("spec.patch.body", "needs type and value (strings)")
    tls = spec.get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            c.fail("spec.tls", "must be a mapping")
        else:
            for key in ("secretName", "secretNamespace", "certName", "keyName"):
                if not isinstance(tls.get(key), str):
                    c.fail(f"spec.tls.{key}", "required")
