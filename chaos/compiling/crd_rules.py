"""The Chaos Mesh CRD field rules, checked on every object before it is printed or created.

Mirrors what the chaos-mesh.org/v1alpha1 CRDs and webhooks enforce (enums of action, mode,
direction; ``value`` for fixed/percent modes; duration patterns; percentages 0-100 as
strings; bandwidth units and minimums; PodChaos/StressChaos/HTTPChaos specifics) plus our
own: every object is bounded (``spec.duration``) and labelled as ours. Pure; used by the
Kubernetes compiler, raw ``chaos-mesh`` faults and the tests.
"""

from __future__ import annotations

import re
from typing import Any

from chaos.compiling import naming
from chaos.errors import Problem
from chaos.model.durations import DURATION_PATTERN, parse_duration
from chaos.model.faults import BANDWIDTH_RATE_PATTERN, MAX_FAULT_DURATION_S

API_VERSION = "chaos-mesh.org/v1alpha1"
KINDS = frozenset({"NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos", "IOChaos", "TimeChaos",
                   "DNSChaos", "KernelChaos", "JVMChaos"})
MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")
NETWORK_ACTIONS = ("netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth")
POD_ACTIONS = ("pod-kill", "pod-failure", "container-kill")
DIRECTIONS = ("to", "from", "both")
TIME_RE = re.compile(DURATION_PATTERN)
"""Go ``time.ParseDuration`` syntax, as Chaos Mesh parses it: ``500ms``, ``2m``, ``1h30m``."""
RATE_RE = re.compile(BANDWIDTH_RATE_PATTERN)
SIZE_RE = re.compile(r"^[0-9]+(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _Check:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(message, path=path, hint=hint))

    def enum(self, path: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")

    def time(self, path: str, value: Any, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail(path, "required")
            return
        if not isinstance(value, str) or not TIME_RE.match(value):
            self.fail(path, f"{value!r} does not match the duration pattern (ns|us|ms|s|m|h)")

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
        if isinstance(duration, str) and TIME_RE.match(duration):
            seconds = parse_duration(duration)
            if seconds <= 0 or seconds > MAX_FAULT_DURATION_S:
                c.fail("spec.duration", f"{duration} must be > 0 and at most 24h")


def _network(c: _Check, spec: dict[str, Any]) -> None:
    action = spec.get("action")
    c.enum("spec.action", action, NETWORK_ACTIONS)
    direction = spec.get("direction", "to")
    c.enum("spec.direction", direction, DIRECTIONS)
    target = spec.get("target")
    if direction in ("from", "both") and not target:
        c.fail("spec.target", f"direction {direction} needs a target")
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
            c.time("spec.delay.latency", delay.get("latency"), required=True)
            c.time("spec.delay.jitter", delay.get("jitter"))
            if "correlation" in delay:
                c.percent_text("spec.delay.correlation", delay["correlation"])
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
                c.fail("spec.bandwidth.rate", f"{rate!r} must be a rate such as 1mbps (bps, kbps, mbps, gbps, tbps)")
            c.int_range("spec.bandwidth.limit", bw.get("limit"), 1)
            c.int_range("spec.bandwidth.buffer", bw.get("buffer"), 1)


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
    mem = stressors.get("memory")
    if isinstance(mem, dict):
        c.int_range("spec.stressors.memory.workers", mem.get("workers"), 1, 8192)
        size = mem.get("size")
        if size is not None and (not isinstance(size, str) or not SIZE_RE.match(size)):
            c.fail("spec.stressors.memory.size", f"{size!r} must be a size such as 256MB or 50%")


def _http(c: _Check, spec: dict[str, Any]) -> None:
    c.enum("spec.target", spec.get("target"), ("Request", "Response"))
    c.int_range("spec.port", spec.get("port"), 1, 65535)
    if not any(k in spec for k in ("abort", "delay", "replace", "patch")):
        c.fail("spec", "HTTPChaos needs one of abort, delay, replace, patch")
    if "delay" in spec:
        c.time("spec.delay", spec["delay"], required=True)
    replace = spec.get("replace")
    if isinstance(replace, dict) and "code" in replace:
        c.int_range("spec.replace.code", replace["code"], 100, 599)
