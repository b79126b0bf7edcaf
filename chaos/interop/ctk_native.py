"""Chaos Toolkit activities that have a native Aftershock form (pure): chaostoolkit-kubernetes' Chaos
Mesh actions (``chaosk8s.chaosmesh.network.actions``, ``chaosk8s.chaosmesh.stress.actions``) and
``chaosk8s.pod.actions.terminate_pods`` → Chaos Mesh faults, with exactly chaosk8s' defaults;
chaostoolkit-prometheus probes and HTTP probes with a status tolerance → SLOs. Used by
:func:`chaos.interop.ctk_import.convert`, which keeps everything else in its CTK form.
"""

from __future__ import annotations

import math
from typing import Any

from chaos.interop.import_common import (
    NeedsRuntime,
    Params,
    Unconvertible,
    as_int,
    as_names,
    as_number,
    as_pairs,
    is_template,
    seconds_text,
    substitute,
)

NETWORK = "chaosk8s.chaosmesh.network.actions"
STRESS = "chaosk8s.chaosmesh.stress.actions"
POD = "chaosk8s.pod.actions"
PROMETHEUS = "chaosprometheus.probes"
NETWORK_TYPES = {"add_latency": "network-delay", "set_loss": "network-loss",
                 "duplicate_packets": "network-duplicate", "corrupt_packets": "network-corrupt",
                 "set_bandwidth": "network-bandwidth"}
PERCENT_ARG = {"network-loss": "loss", "network-duplicate": "duplicate", "network-corrupt": "corrupt"}
DELETES = {(NETWORK, "delete_network_fault"), (STRESS, "delete_stressor")}
REMOVALS = {NETWORK: "delete_network_fault", STRESS: "delete_stressor"}
"""chaosk8s' removal of the Chaos Mesh object its actions create (by name and namespace)."""


# ------------------------------------------------------------------------ native faults


def chaosmesh_fault(func: str, module: str, args: dict[str, Any], name: str, where: str
                     ) -> tuple[dict[str, Any], str]:
    """A chaosk8s Chaos Mesh action → (fault without duration, namespace), with chaosk8s' defaults."""
    fault: dict[str, Any] = {"name": name}
    namespace = str(args.get("ns") or "default")
    selector: dict[str, Any] = {}
    if args.get("namespaces_selectors"):
        selector["namespaces"] = as_names(args["namespaces_selectors"])
    if args.get("label_selectors"):
        selector["labels"] = as_pairs(args["label_selectors"])
    if args.get("annotations_selectors"):
        selector["annotations"] = as_pairs(args["annotations_selectors"])
    if selector:
        fault["selector"] = selector
    mode = str(args.get("mode") or "one")
    fault["mode"] = mode
    if mode in ("fixed", "fixed-percent", "random-max-percent") and args.get("mode_value") is not None:
        fault["value"] = str(args["mode_value"])
    if module == NETWORK:
        kind = NETWORK_TYPES[func]
        fault["type"] = kind
        fault["direction"] = str(args.get("direction") or "to")
        if kind == "network-delay":
            if not args.get("latency"):
                raise Unconvertible(where, "add_latency without latency")
            fault["latency"] = str(args["latency"])
            if args.get("jitter"):
                fault["jitter"] = str(args["jitter"])
        elif kind in PERCENT_ARG:
            arg = PERCENT_ARG[kind]
            if args.get(arg) is None:
                raise Unconvertible(where, f"{func} without {arg}")
            fault["percent"] = as_number(args[arg])
        else:
            for key in ("rate", "limit", "buffer", "peakrate", "minburst"):
                if args.get(key) is not None:
                    fault[key] = args[key] if key == "rate" else as_int(args[key])
        if args.get("correlation") is not None and kind != "network-bandwidth":
            fault["correlation"] = as_number(args["correlation"])
        if args.get("target_annotations_selectors"):
            raise NeedsRuntime  # no peer annotation selector in Aftershock: chaosk8s writes it as it is
        # chaosk8s always writes spec.target (target_mode defaults to "one"; an empty selector means the
        # object's namespace): the peer is never wider than that.
        target_mode = str(args.get("target_mode") or "one")
        peer: dict[str, Any] = {"mode": target_mode,
                                "namespaces": as_names(args.get("target_namespaces_selectors")) or [namespace]}
        if target_mode in ("fixed", "fixed-percent", "random-max-percent"):
            peer["value"] = str(args.get("target_mode_value") or "")
        if args.get("target_label_selectors"):
            peer["labels"] = as_pairs(args["target_label_selectors"])
        if args.get("external_targets"):
            peer["externalTargets"] = as_names(args["external_targets"])
        fault["peer"] = peer
    else:
        fault["type"] = "cpu-stress" if func == "stress_cpu" else "memory-stress"
        if args.get("workers") is not None:
            fault["workers"] = as_int(args["workers"])
        if func == "stress_cpu" and args.get("load") is not None:
            fault["load"] = as_int(args["load"])
        if func == "stress_memory" and args.get("size") is not None:
            fault["size"] = str(args["size"])
        for key in ("container_names", "stressng_stressors", "oom_score", "time_to_get_to_size"):
            if args.get(key):
                raise NeedsRuntime  # no Aftershock field for it
    return fault, namespace


def pod_kill(args: dict[str, Any], name: str) -> tuple[dict[str, Any], str, list[str]]:
    """terminate_pods → pod-kill (fault without duration, namespace, notes)."""
    if args.get("name_pattern"):
        raise NeedsRuntime  # pods by name pattern: only chaosk8s selects them
    notes: list[str] = []
    fault: dict[str, Any] = {"name": name, "type": "pod-kill"}
    if args.get("label_selector"):
        fault["selector"] = {"labels": as_pairs(args["label_selector"])}
    qty = args.get("qty", 1)
    if args.get("all"):
        fault["mode"] = "all"
    elif args.get("mode") == "percentage":
        fault["mode"], fault["value"] = "fixed-percent", str(qty)
    elif qty is not None and not is_template(qty) and int(qty) > 1:
        fault["mode"], fault["value"] = "fixed", str(qty)
    else:
        fault["mode"] = "one"
    if not args.get("all") and not args.get("rand"):
        notes.append("chaosk8s picks pods in alphabetic order unless rand is true; Chaos Mesh picks them at "
                     "random (same count)")
    if args.get("grace_period") is not None and int(args["grace_period"]) >= 0:
        fault["gracePeriod"] = int(args["grace_period"])
    return fault, str(args.get("ns") or "default"), notes


# ------------------------------------------------------------------------ probes → SLOs


def tolerance_objectives(tolerance: Any, where: str) -> list[tuple[str, str, float]]:
    """A tolerance → [(name suffix, op, value)]."""
    lo: Any
    hi: Any
    if isinstance(tolerance, dict) and tolerance.get("type") == "jsonpath" and "expect" in tolerance:
        expect = tolerance["expect"]
        if isinstance(expect, list):
            if len(expect) != 1:
                raise Unconvertible(where, "a jsonpath tolerance expecting several values has no single objective")
            expect = expect[0]
        try:
            return [("", "==", float(as_number(expect)))]
        except (TypeError, ValueError):
            raise Unconvertible(where, f"jsonpath expects {expect!r}, not a number") from None
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        bounds = tolerance.get("range")
    elif isinstance(tolerance, list) and len(tolerance) == 2 and not isinstance(tolerance[0], bool):
        bounds = tolerance
    else:
        raise Unconvertible(where, f"tolerance {tolerance!r}: only a jsonpath 'expect' (==) or a numeric "
                                    "range converts to a PromQL objective")
    try:
        lo, hi = (float(as_number(b)) for b in bounds or [])
    except (TypeError, ValueError):
        raise Unconvertible(where, f"range {bounds!r} is not two numbers") from None
    if lo == hi:
        return [("", "==", lo)]
    out: list[tuple[str, str, float]] = []
    if not math.isinf(lo):
        out.append(("-min" if not math.isinf(hi) else "", ">=", lo))
    if not math.isinf(hi):
        out.append(("-max" if not math.isinf(lo) else "", "<=", hi))
    return out


def http_probe(provider: dict[str, Any], tolerance: Any, params: Params, where: str) -> dict[str, Any]:
    """A CTK HTTP probe whose tolerance is a status code (or several) → ``probe.http``."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, int) or (
            isinstance(tolerance, list) and tolerance and all(isinstance(t, int) and not isinstance(t, bool)
                                                             for t in tolerance))):
        raise NeedsRuntime  # body/jsonpath/regex tolerances: chaoslib evaluates them
    if provider.get("arguments"):
        raise NeedsRuntime  # a request body: CTK's form keeps it
    expected = [tolerance] if isinstance(tolerance, int) else list(tolerance)
    url = substitute(provider.get("url"), params, f"{where}.provider.url", lambda _: True)
    if not url:
        raise Unconvertible(where, "an HTTP probe without url")
    http: dict[str, Any] = {"url": url, "method": str(provider.get("method") or "GET").upper(),
                            "expectStatus": expected}
    timeout = provider.get("timeout")
    if isinstance(timeout, list):  # CTK: [connect, read]
        timeout = max(float(t) for t in timeout)
    if timeout is not None:
        http["timeout"] = seconds_text(float(timeout))
    headers = provider.get("headers")
    if headers:
        http["headers"] = substitute(headers, params, f"{where}.provider.headers", lambda _: True)
    return http

