"""A Chaos Toolkit experiment → an Aftershock experiment document, and the list of what could not
be converted (with the reason), so nothing is dropped silently.

Converted:

* chaostoolkit-kubernetes Chaos Mesh actions — ``chaosk8s.chaosmesh.network.actions``
  (``add_latency``, ``set_loss``, ``duplicate_packets``, ``corrupt_packets``, ``set_bandwidth``),
  ``chaosk8s.chaosmesh.stress.actions`` (``stress_cpu``, ``stress_memory``) and
  ``chaosk8s.pod.actions.terminate_pods`` — to faults (selectors, mode, direction, peer); the
  fault's duration is the action's own ``duration`` or its ``pauses.after`` (the time CTK keeps it);
  their ``delete_*`` rollbacks are covered by Aftershock's own removal;
* chaostoolkit-prometheus probes (``chaosprometheus.probes.query``) in the steady-state hypothesis
  with a ``jsonpath`` (``expect``) or ``range`` tolerance — to SLOs and ``steadyState``; the
  ``prometheus_base_url`` configuration — to ``spec.monitor.prometheus``;
* ``${key}`` references to the configuration — literal values, or ``{{ env.KEY }}`` templates for
  ``type: env`` entries;
* documents written by ``aftershock export`` — faults and the rest of the spec from the Aftershock
  document the actions carry, SLOs from the ``slo_holds`` probes.

Pure: the caller reads the file.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.interop.ctk import ACTIONS, GUARD, HELD_PROBE, PROBES, REDACTED, SECRETS_SCOPE, header_env

NETWORK = "chaosk8s.chaosmesh.network.actions"
STRESS = "chaosk8s.chaosmesh.stress.actions"
POD = "chaosk8s.pod.actions"
PROMETHEUS = "chaosprometheus.probes"
NETWORK_TYPES = {"add_latency": "network-delay", "set_loss": "network-loss",
                 "duplicate_packets": "network-duplicate", "corrupt_packets": "network-corrupt",
                 "set_bandwidth": "network-bandwidth"}
PERCENT_ARG = {"network-loss": "loss", "network-duplicate": "duplicate", "network-corrupt": "corrupt"}
DELETES = {(NETWORK, "delete_network_fault"), (STRESS, "delete_stressor")}
KNOWN_TOP = {"version", "title", "description", "tags", "configuration", "secrets", "controls",
             "steady-state-hypothesis", "method", "rollbacks", "extensions", "contributions", "runtime"}
REF_RE = re.compile(r"^\$\{([A-Za-z0-9_.-]+)\}$")


@dataclass(frozen=True)
class Skipped:
    """One part of the CTK experiment that is not in the result, and why."""

    where: str
    reason: str

    def render(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Converted:
    experiment: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Values chosen because the CTK document has none (e.g. a default duration)."""


def slug(text: str) -> str:
    """A DNS-1123 label from free text ("" when nothing is left)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:63].rstrip("-")


class _Resolver:
    """``${key}`` → configuration value (literal) or ``{{ env.KEY }}`` template (``type: env``)."""

    def __init__(self, configuration: Mapping[str, Any], skipped: list[Skipped]) -> None:
        self.configuration = configuration
        self.skipped = skipped

    def entry(self, key: str) -> tuple[bool, Any]:
        if key not in self.configuration:
            return False, None
        value = self.configuration[key]
        if isinstance(value, dict) and "type" in value:
            if value.get("type") == "env" and value.get("key"):
                env = str(value["key"])
                if "default" in value and value["default"] is not None:
                    default = str(value["default"]).replace("'", "\\'")
                    return True, f"{{{{ env.{env} | default('{default}') }}}}"
                return True, f"{{{{ env.{env} }}}}"
            return False, None
        return True, value

    def __call__(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            match = REF_RE.match(value)
            if match:
                ok, resolved = self.entry(match.group(1))
                if not ok:
                    raise _Unconvertible(where, f"${{{match.group(1)}}} has no static value in the configuration "
                                                "(dynamic or missing)")
                return resolved
            if "${" in value:
                raise _Unconvertible(where, f"{value!r}: configuration references inside text are not converted")
            return value
        if isinstance(value, dict):
            return {k: self(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value


class _Unconvertible(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.skip = Skipped(where, reason)


def _pairs(value: Any) -> dict[str, str]:
    """``"k=v,k2=v2"`` or a mapping → labels."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in str(value).split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"selector {item!r} is not key=value")
        out[key.strip()] = val.strip()
    return out


def _names(value: Any) -> list[str]:
    if not value:
        return []
    return [str(v).strip() for v in (value.split(",") if isinstance(value, str) else value)]


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"


# ------------------------------------------------------------------------ faults


def _chaosmesh_fault(func: str, module: str, args: dict[str, Any], name: str, duration: str | None,
                     where: str, notes: list[str]) -> tuple[dict[str, Any], str]:
    """A Chaos Mesh action → (fault, namespace)."""
    fault: dict[str, Any] = {"name": name}
    namespace = str(args.get("ns") or "default")
    selector: dict[str, Any] = {}
    if args.get("namespaces_selectors"):
        selector["namespaces"] = _names(args["namespaces_selectors"])
    if args.get("label_selectors"):
        selector["labels"] = _pairs(args["label_selectors"])
    if args.get("annotations_selectors"):
        selector["annotations"] = _pairs(args["annotations_selectors"])
    if selector:
        fault["selector"] = selector
    mode = str(args.get("mode") or "one")
    fault["mode"] = mode
    if mode in ("fixed", "fixed-percent", "random-max-percent") and args.get("mode_value") is not None:
        fault["value"] = str(args["mode_value"])
    if module == NETWORK:
        kind = NETWORK_TYPES[func]
        fault["type"] = kind
        direction = str(args.get("direction") or "to")
        fault["direction"] = direction
        if kind == "network-delay":
            if not args.get("latency"):
                raise _Unconvertible(where, "add_latency without latency")
            fault["latency"] = str(args["latency"])
            if args.get("jitter"):
                fault["jitter"] = str(args["jitter"])
        elif kind in PERCENT_ARG:
            arg = PERCENT_ARG[kind]
            if args.get(arg) is None:
                raise _Unconvertible(where, f"{func} without {arg}")
            fault["percent"] = float(args[arg])
        else:
            for key in ("rate", "limit", "buffer", "peakrate", "minburst"):
                if args.get(key) is not None:
                    fault[key] = args[key] if key == "rate" else int(args[key])
        if args.get("correlation") is not None and kind != "network-bandwidth":
            fault["correlation"] = float(args["correlation"])
        peer: dict[str, Any] = {}
        if args.get("target_namespaces_selectors"):
            peer["namespaces"] = _names(args["target_namespaces_selectors"])
        if args.get("target_label_selectors"):
            peer["labels"] = _pairs(args["target_label_selectors"])
        if args.get("external_targets"):
            peer["externalTargets"] = _names(args["external_targets"])
        if args.get("target_annotations_selectors"):
            raise _Unconvertible(f"{where}.arguments.target_annotations_selectors",
                                 "peer annotation selectors have no Aftershock field")
        if peer:
            peer["mode"] = str(args.get("target_mode") or "one")
            if peer["mode"] in ("fixed", "fixed-percent", "random-max-percent"):
                peer["value"] = str(args.get("target_mode_value") or "")
            fault["peer"] = peer
    elif module == STRESS:
        fault["type"] = "cpu-stress" if func == "stress_cpu" else "memory-stress"
        if args.get("workers") is not None:
            fault["workers"] = int(args["workers"])
        if func == "stress_cpu" and args.get("load") is not None:
            fault["load"] = int(args["load"])
        if func == "stress_memory" and args.get("size") is not None:
            fault["size"] = str(args["size"])
        for key in ("container_names", "stressng_stressors", "oom_score", "time_to_get_to_size"):
            if args.get(key):
                raise _Unconvertible(f"{where}.arguments.{key}", "no Aftershock field for it")
        duration = str(args.get("duration") or duration or "")
    if not duration:
        duration = "60s"
        notes.append(f"{where}: no duration (Chaos Toolkit removes it with a later action); using 60s")
    fault["duration"] = duration
    return fault, namespace


def _pod_kill(args: dict[str, Any], name: str, duration: str | None, where: str,
              notes: list[str]) -> tuple[dict[str, Any], str]:
    for key in ("name_pattern", "order"):
        if args.get(key):
            raise _Unconvertible(f"{where}.arguments.{key}", "pods are selected by labels in Aftershock")
    fault: dict[str, Any] = {"name": name, "type": "pod-kill"}
    if args.get("label_selector"):
        fault["selector"] = {"labels": _pairs(args["label_selector"])}
    if args.get("all"):
        fault["mode"] = "all"
    elif args.get("mode") == "percentage" and args.get("qty"):
        fault["mode"], fault["value"] = "fixed-percent", str(args["qty"])
    elif args.get("qty") and int(args["qty"]) > 1:
        fault["mode"], fault["value"] = "fixed", str(args["qty"])
    else:
        fault["mode"] = "one"
    if args.get("grace_period") is not None:
        fault["gracePeriod"] = max(0, int(args["grace_period"]))
    if not duration:
        duration = "30s"
        notes.append(f"{where}: pod kill has no duration in Chaos Toolkit; using 30s")
    fault["duration"] = duration
    return fault, str(args.get("ns") or "default")


# ------------------------------------------------------------------------ probes → SLOs


def _number(value: Any) -> float:
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN")
    return number


def _objectives(tolerance: Any, where: str) -> list[tuple[str, str, float]]:
    """A tolerance → [(name suffix, op, value)]."""
    lo: Any
    hi: Any
    if isinstance(tolerance, dict) and tolerance.get("type") == "jsonpath" and "expect" in tolerance:
        expect = tolerance["expect"]
        if isinstance(expect, list):
            if len(expect) != 1:
                raise _Unconvertible(where, "a jsonpath tolerance expecting several values has no single objective")
            expect = expect[0]
        try:
            return [("", "==", _number(expect))]
        except (TypeError, ValueError):
            raise _Unconvertible(where, f"jsonpath expects {expect!r}, not a number") from None
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        bounds = tolerance.get("range")
    elif isinstance(tolerance, list) and len(tolerance) == 2 and not isinstance(tolerance[0], bool):
        bounds = tolerance
    else:
        raise _Unconvertible(where, f"tolerance {tolerance!r}: only a jsonpath 'expect' (==) or a numeric "
                                    "range converts to an SLO objective")
    try:
        lo, hi = (_number(b) for b in bounds or [])
    except (TypeError, ValueError):
        raise _Unconvertible(where, f"range {bounds!r} is not two numbers") from None
    if lo == hi:
        return [("", "==", lo)]
    out: list[tuple[str, str, float]] = []
    if not math.isinf(lo):
        out.append(("-min" if not math.isinf(hi) else "", ">=", lo))
    if not math.isinf(hi):
        out.append(("-max" if not math.isinf(lo) else "", "<=", hi))
    return out


# ------------------------------------------------------------------------ the document


def convert(document: Any, source: str = "", name: str | None = None) -> Converted:
    """Convert a parsed CTK experiment; see the module docstring."""
    skipped: list[Skipped] = []
    notes: list[str] = []
    if not isinstance(document, dict):
        return Converted({}, [Skipped("(document)", "not a Chaos Toolkit experiment (a mapping)")])
    configuration = document.get("configuration") or {}
    if not isinstance(configuration, dict):
        skipped.append(Skipped("configuration", "not a mapping"))
        configuration = {}
    resolve = _Resolver(configuration, skipped)
    carried = configuration.get("aftershock_experiment")
    carried = copy.deepcopy(carried) if isinstance(carried, dict) and isinstance(carried.get("spec"), dict) else None

    for key in document:
        if key not in KNOWN_TOP:
            skipped.append(Skipped(key, "not part of the Chaos Toolkit experiment format Aftershock reads"))
    secrets = document.get("secrets")
    ours = carried is not None and isinstance(secrets, dict) and set(secrets) == {SECRETS_SCOPE}
    if secrets and not ours:  # our own scope only carries the monitor's credentials, which `carried` names
        skipped.append(Skipped("secrets", "Chaos Toolkit secrets are not converted: use tokenEnv / bearerTokenEnv "
                                          "/ passwordEnv fields, which name environment variables"))
    for key in ("contributions", "runtime"):
        if document.get(key):
            skipped.append(Skipped(key, "no Aftershock equivalent"))
    for i, ext in enumerate(document.get("extensions") or []):
        if not (isinstance(ext, dict) and ext.get("name") == "aftershock"):
            skipped.append(Skipped(f"extensions[{i}]", "extensions of other tools are not converted"))
    for i, control in enumerate(document.get("controls") or []):
        module = ((control or {}).get("provider") or {}).get("module")
        if module != GUARD:
            skipped.append(Skipped(f"controls[{i}] ({(control or {}).get('name')})",
                                   "only the Aftershock SLO guard maps to Aftershock (its policies)"))

    title = str(document.get("title") or "")
    exp_name = name or slug(title) or slug(source.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or "imported"
    description = str(document.get("description") or "")
    if description == f"Aftershock experiment {exp_name}":
        description = ""
    labels: dict[str, str] = {}
    for tag in document.get("tags") or []:
        key, sep, value = str(tag).partition(":")
        if sep:
            labels[key] = value
        elif tag != "aftershock":
            skipped.append(Skipped(f"tags: {tag}", "a tag without ':' has no label form (key:value)"))

    # ---- method: faults
    faults: list[dict[str, Any]] = []
    namespaces: list[str] = []
    carried_faults = {f.get("name"): f for f in (carried or {}).get("spec", {}).get("faults", [])}
    method = document.get("method") or []
    for i, activity in enumerate(method):
        where = f"method[{i}] ({(activity or {}).get('name')})"
        provider = (activity or {}).get("provider") or {}
        module, func = provider.get("module"), provider.get("func")
        try:
            if (activity or {}).get("type") == "probe":
                raise _Unconvertible(where, "probes in the method are not converted: Aftershock polls its SLOs "
                                            "continuously while faults are live")
            if provider.get("type") != "python":
                raise _Unconvertible(where, f"{provider.get('type')} providers have no Aftershock equivalent")
            if module == ACTIONS:
                if func == "inject_fault":
                    fault_ref = (provider.get("arguments") or {}).get("fault")
                    carried_fault = carried_faults.get(fault_ref)
                    if carried_fault is None:
                        raise _Unconvertible(where, f"fault {fault_ref!r} is not in the carried Aftershock "
                                                    "experiment (configuration.aftershock_experiment)")
                    faults.append(carried_fault)
                continue  # hold/remove/await steady: what Aftershock's run does itself
            args = resolve(provider.get("arguments") or {}, f"{where}.arguments")
            pause = ((activity or {}).get("pauses") or {}).get("after")
            duration = _seconds_text(float(pause)) if isinstance(pause, int | float) and pause > 0 else None
            fault_name = slug(str(args.get("name") or (activity or {}).get("name") or f"fault-{i}")) or f"fault-{i}"
            if (module == NETWORK and func in NETWORK_TYPES) or (module == STRESS and func in ("stress_cpu",
                                                                                             "stress_memory")):
                fault, ns = _chaosmesh_fault(str(func), str(module), args, fault_name, duration, where, notes)
                faults.append(fault)
                namespaces.append(ns)
            elif module == POD and func == "terminate_pods":
                fault, ns = _pod_kill(args, fault_name, duration, where, notes)
                faults.append(fault)
                namespaces.append(ns)
            elif (module, func) in DELETES:
                notes.append(f"{where}: removal in the method; Aftershock removes its faults at the end of "
                             "the fault's duration or on a policy")
            else:
                raise _Unconvertible(where, f"{module}.{func} is not a Chaos Mesh action Aftershock converts")
        except _Unconvertible as exc:
            skipped.append(exc.skip)
        except (TypeError, ValueError) as exc:
            skipped.append(Skipped(where, f"bad arguments: {exc}"))

    for i, activity in enumerate(document.get("rollbacks") or []):
        provider = (activity or {}).get("provider") or {}
        key = (provider.get("module"), provider.get("func"))
        if key in DELETES or key == (ACTIONS, "remove_faults"):
            continue  # Aftershock removes every fault it injected itself
        skipped.append(Skipped(f"rollbacks[{i}] ({(activity or {}).get('name')})",
                               "only fault removals map (Aftershock removes its faults itself)"))

    # ---- hypothesis: SLOs
    slos: list[dict[str, Any]] = []
    steady: list[str] = []
    prometheus: Any = None
    monitor_auth: dict[str, Any] = {}
    carried_slos = {s.get("name"): s for s in (carried or {}).get("spec", {}).get("slos", [])}
    hypothesis = document.get("steady-state-hypothesis") or {}
    for i, probe in enumerate(hypothesis.get("probes") or []):
        where = f"steady-state-hypothesis.probes[{i}] ({(probe or {}).get('name')})"
        provider = (probe or {}).get("provider") or {}
        module, func = provider.get("module"), provider.get("func")
        try:
            if module == PROBES and func == HELD_PROBE.replace("-", "_"):
                continue  # the guard's record: Aftershock's own deviation check
            if provider.get("type") != "python":
                raise _Unconvertible(where, f"{provider.get('type')} probes have no SLO form (PromQL)")
            args = resolve(provider.get("arguments") or {}, f"{where}.arguments")
            probe_name = slug(str((probe or {}).get("name") or f"slo-{i}")) or f"slo-{i}"
            if module == PROBES and func == "probe_holds":  # an SLO probe exported by Aftershock
                if (probe or {}).get("tolerance") is not True or not isinstance(args.get("probe"), dict):
                    raise _Unconvertible(where, "probe_holds needs tolerance true and a probe")
                probed: dict[str, Any] = dict(carried_slos.get(probe_name, {}))
                probed.update({"name": probe_name, "probe": args["probe"]})
                probed.pop("query", None)
                probed.pop("objective", None)
                slos.append(probed)
                steady.append(probe_name)
                continue
            if module == PROBES and func == "slo_holds":
                if (probe or {}).get("tolerance") is not True:
                    raise _Unconvertible(where, "slo_holds needs tolerance true")
                objectives = [("", str(args["op"]), float(args["value"]))]
                prometheus = prometheus or args.get("prometheus")
                if isinstance(args.get("monitor"), dict):
                    monitor_auth = monitor_auth or args["monitor"]
            elif (module == PROBES and func == "slo_value") or (module == PROMETHEUS and func == "query"):
                objectives = _objectives((probe or {}).get("tolerance"), f"{where}.tolerance")
                prometheus = prometheus or args.get("prometheus")
            else:
                raise _Unconvertible(where, f"{module}.{func} is not a Prometheus probe Aftershock converts")
            if not args.get("query"):
                raise _Unconvertible(where, "no query")
            for suffix, obj_op, obj_value in objectives:
                slo_name = (probe_name[: 63 - len(suffix)] + suffix) if suffix else probe_name
                slo: dict[str, Any] = dict(carried_slos.get(slo_name, {}))
                slo.update({"name": slo_name, "query": str(args["query"]), "objective": {"op": obj_op, "value": obj_value}})
                slos.append(slo)
                steady.append(slo_name)
        except _Unconvertible as exc:
            skipped.append(exc.skip)
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(Skipped(where, f"bad arguments: {exc}"))

    if prometheus is None and "prometheus_base_url" in configuration:
        try:
            prometheus = resolve("${prometheus_base_url}", "configuration.prometheus_base_url")
        except _Unconvertible as exc:
            skipped.append(exc.skip)

    # ---- assemble
    if carried is not None:
        spec = carried["spec"]
        names = {s["name"] for s in slos}
        spec["slos"] = slos + [s for s in spec.get("slos", []) if s.get("name") not in names]
        spec["steadyState"] = steady
        spec["faults"] = faults
        monitor = spec.setdefault("monitor", {})
        headers = monitor.get("headers") or {}
        monitor["headers"] = {k: (f"{{{{ env.{header_env(k)} }}}}"
                                  if v == REDACTED else v) for k, v in headers.items()}
        experiment = {"apiVersion": carried.get("apiVersion", "aftershock/v1alpha1"), "kind": "Experiment",
                      "metadata": {"name": exp_name, "description": description, "labels": labels},
                      "spec": spec}
        return Converted(experiment, skipped, notes)

    spec_out: dict[str, Any] = {"target": {"type": "kubernetes"}}
    if namespaces:
        spec_out["target"]["namespace"] = namespaces[0]
        for fault, ns in zip(faults, namespaces, strict=True):
            if ns != namespaces[0]:
                fault.setdefault("selector", {}).setdefault("namespaces", [ns])
        spec_out["blastRadius"] = {"namespaces": sorted(set(namespaces))}
    spec_out["faults"] = faults
    if slos:
        spec_out["slos"] = slos
        spec_out["steadyState"] = steady
    if prometheus or monitor_auth:
        spec_out["monitor"] = {**monitor_auth, **({"prometheus": prometheus} if prometheus else {})}
    metadata: dict[str, Any] = {"name": exp_name}
    if description:
        metadata["description"] = description
    if labels:
        metadata["labels"] = labels
    experiment = {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": metadata, "spec": spec_out}
    return Converted(experiment, skipped, notes)
