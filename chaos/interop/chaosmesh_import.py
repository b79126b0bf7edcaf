"""Chaos Mesh objects (NetworkChaos, PodChaos, StressChaos, HTTPChaos, as one would ``kubectl apply``
them) → an Aftershock experiment: the object's fault, namespace, mode, value and duration, with
SLO and policy stubs to fill in.

A converted object never selects more than its author wrote: every field of the object is either
mapped or named in the result's problems — a field Chaos Mesh does not know (``selector.labels``
instead of ``labelSelectors``; the API server would prune it and the object would select every pod
of the namespace) refuses that object, with the field and the likely fix. Pure: the caller reads the
file (several YAML documents are several objects).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from chaos.interop.import_common import Converted, Skipped, slug

API_VERSION = "chaos-mesh.org/v1alpha1"
KINDS = ("NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos")
SELECTOR_FIELDS = {"namespaces": "namespaces", "labelSelectors": "labels", "expressionSelectors": "expressions",
                   "annotationSelectors": "annotations", "fieldSelectors": "fields", "nodeSelectors": "nodeSelectors",
                   "pods": "pods"}
CHAOS_MESH_SELECTOR_ONLY = ("nodes", "podPhaseSelectors")
"""Chaos Mesh selector fields Aftershock has no field for: they narrow, so dropping them would widen."""
COMMON = {"selector", "mode", "value", "duration"}
NETWORK_ACTIONS = {"delay": "network-delay", "loss": "network-loss", "duplicate": "network-duplicate",
                   "corrupt": "network-corrupt", "partition": "network-partition", "bandwidth": "network-bandwidth"}
DEFAULT_DURATION = "60s"

STUBS = """\
# --- to fill in (written by aftershock import from a Chaos Mesh object) -------------------------
# The fault above is the object as written. Aftershock watches SLOs while it is live and answers a
# breach with a policy; add yours, e.g.:
#
#  slos:
#    - name: p95-latency
#      query: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))
#      objective: {op: "<", value: 0.8}
#  steadyState: [p95-latency]
#  policies:
#    - name: rollback-on-breach
#      when: {slo: p95-latency}
#      action: rollback
#  monitor:
#    prometheus: "{{ env.AFTERSHOCK_PROMETHEUS_URL | default('http://127.0.0.1:9090') }}"
"""
"""Appended (indented under ``spec``) to the YAML of an experiment converted from Chaos Mesh objects."""


def is_chaos_mesh(document: Any) -> bool:
    return isinstance(document, dict) and str(document.get("apiVersion", "")).startswith("chaos-mesh.org/")


class _Refused(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _unknown(where: str, keys: Mapping[str, Any], known: set[str] | dict[str, Any]) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.5)
            if where.endswith("selector") and key == "labels":
                close = ["labelSelectors"]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Refused(f"{where}.{key}", f"not a Chaos Mesh field{hint}: the API server would drop it, and the "
                                             "object would select more than written")


def _selector(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _Refused(where, "a selector must be a mapping")
    for key in CHAOS_MESH_SELECTOR_ONLY:
        if raw.get(key):
            raise _Refused(f"{where}.{key}", "Aftershock has no field for it and it narrows the selection: "
                                             "converting without it would select more than written")
    _unknown(where, raw, {**SELECTOR_FIELDS, **dict.fromkeys(CHAOS_MESH_SELECTOR_ONLY)})
    return {SELECTOR_FIELDS[k]: v for k, v in raw.items() if v not in (None, [], {})}


def _fault(obj: dict[str, Any], name: str) -> tuple[dict[str, Any], str, list[str]]:
    """One object → (fault, namespace, notes)."""
    notes: list[str] = []
    kind = obj.get("kind")
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "default")
    if not metadata.get("namespace"):
        notes.append("metadata.namespace: not set; kubectl would use the current context's namespace, the "
                     "experiment uses 'default'")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise _Refused("spec", "required mapping")
    fault: dict[str, Any] = {"name": name}
    fault["selector"] = _selector(spec.get("selector", {}), "spec.selector")
    fault["mode"] = str(spec.get("mode") or "one")
    if spec.get("value") not in (None, ""):
        fault["value"] = str(spec["value"])
    duration = spec.get("duration")
    if duration:
        fault["duration"] = str(duration)
    else:
        fault["duration"] = DEFAULT_DURATION
        notes.append(f"spec.duration: not set (Chaos Mesh keeps it until deleted); every Aftershock fault is "
                     f"bounded: {DEFAULT_DURATION}")
    known = set(COMMON)
    if kind == "NetworkChaos":
        action = spec.get("action")
        known |= {"action", "direction", "target", "externalTargets", "device", action if isinstance(action, str) else ""}
        if action not in NETWORK_ACTIONS:
            raise _Refused("spec.action", f"{action!r}: Aftershock converts {', '.join(NETWORK_ACTIONS)}")
        fault["type"] = NETWORK_ACTIONS[action]
        fault["direction"] = str(spec.get("direction") or "to")
        params = spec.get(action) or {}
        if not isinstance(params, dict):
            raise _Refused(f"spec.{action}", "must be a mapping")
        if action == "delay":
            _unknown("spec.delay", params, {"latency", "jitter", "correlation", "reorder"})
            fault["latency"] = params.get("latency")
            if params.get("jitter"):
                fault["jitter"] = params["jitter"]
            if params.get("reorder"):
                reorder = params["reorder"]
                fault["reorder"] = {"percent": float(reorder.get("reorder", 0)),
                                    "correlation": float(reorder.get("correlation", 0) or 0),
                                    "gap": int(reorder.get("gap", 0) or 0)}
        elif action in ("loss", "duplicate", "corrupt"):
            _unknown(f"spec.{action}", params, {action, "correlation"})
            fault["percent"] = float(params.get(action, 0))
        elif action == "bandwidth":
            _unknown("spec.bandwidth", params, {"rate", "limit", "buffer", "peakrate", "minburst"})
            fault.update({k: v for k, v in params.items() if v is not None})
        if params.get("correlation") not in (None, "") and action in ("delay", "loss", "duplicate", "corrupt"):
            fault["correlation"] = float(params["correlation"])
        target = spec.get("target")
        if target:
            if not isinstance(target, dict):
                raise _Refused("spec.target", "must be a mapping")
            _unknown("spec.target", target, {"selector", "mode", "value"})
            selected = _selector(target.get("selector", {}), "spec.target.selector")
            peer = {k: v for k, v in selected.items() if k in ("namespaces", "labels", "fields")} | {
                "mode": str(target.get("mode") or "one")}
            extra = set(selected) - {"namespaces", "labels", "fields"}
            if extra:
                raise _Refused("spec.target.selector", f"{sorted(extra)} have no Aftershock peer field; the peer "
                                                       "would be wider than written")
            if not peer.get("namespaces"):
                peer["namespaces"] = [namespace]  # Chaos Mesh's default: the object's namespace
            if target.get("value") not in (None, ""):
                peer["value"] = str(target["value"])
            fault["peer"] = peer
        if spec.get("externalTargets"):
            fault.setdefault("peer", {"mode": "all", "namespaces": []})
            if not fault["peer"].get("namespaces"):
                fault["peer"].pop("namespaces")
            fault["peer"]["externalTargets"] = list(spec["externalTargets"])
        if spec.get("device"):
            fault["device"] = spec["device"]
    elif kind == "PodChaos":
        action = spec.get("action")
        known |= {"action", "containerNames", "gracePeriod"}
        if action not in ("pod-kill", "pod-failure", "container-kill"):
            raise _Refused("spec.action", f"{action!r} is not pod-kill, pod-failure or container-kill")
        fault["type"] = action
        if action == "container-kill":
            fault["containerNames"] = list(spec.get("containerNames") or [])
        elif spec.get("containerNames"):
            raise _Refused("spec.containerNames", "only container-kill takes containerNames in Aftershock")
        if action == "pod-kill" and spec.get("gracePeriod") is not None:
            fault["gracePeriod"] = int(spec["gracePeriod"])
    elif kind == "StressChaos":
        known |= {"stressors", "stressngStressors", "containerNames"}
        for key in ("stressngStressors", "containerNames"):
            if spec.get(key):
                raise _Refused(f"spec.{key}", "no Aftershock field for it (use a raw chaos-mesh fault)")
        stressors = spec.get("stressors") or {}
        _unknown("spec.stressors", stressors, {"cpu", "memory"})
        if len(stressors) != 1:
            raise _Refused("spec.stressors", "Aftershock converts exactly one of cpu or memory per object")
        which, params = next(iter(stressors.items()))
        _unknown(f"spec.stressors.{which}", params or {},
                 {"workers", "load", "options"} if which == "cpu" else {"workers", "size", "options"})
        fault["type"] = f"{which}-stress"
        fault.update({k: v for k, v in (params or {}).items() if v is not None})
    elif kind == "HTTPChaos":
        known |= {"target", "port", "path", "method", "code", "request_headers", "abort", "delay", "replace",
                  "patch", "tls"}
        target = spec.get("target")
        if spec.get("abort"):
            fault["type"] = "http-abort"
        elif spec.get("delay"):
            fault["type"], fault["delay"] = "http-delay", spec["delay"]
        elif isinstance(spec.get("replace"), dict) and set(spec["replace"]) <= {"code", "headers"} \
                and spec["replace"].get("code") is not None and target == "Response":
            fault["type"], fault["code"] = "http-status", int(spec["replace"]["code"])
            if spec["replace"].get("headers"):
                fault["headers"] = dict(spec["replace"]["headers"])
        elif isinstance(spec.get("patch"), dict):
            patch = spec["patch"]
            _unknown("spec.patch", patch, {"headers", "queries", "body"})
            fault["type"], fault["target"] = "http-patch", target or "Request"
            if patch.get("headers"):
                fault["headers"] = [list(h) for h in patch["headers"]]
            if patch.get("queries"):
                fault["queries"] = [list(q) for q in patch["queries"]]
            if isinstance(patch.get("body"), dict) and patch["body"].get("value") is not None:
                fault["body"] = str(patch["body"]["value"])
        else:
            raise _Refused("spec", "an HTTPChaos Aftershock converts has abort, delay, replace.code (Response) "
                                   "or patch")
        if target not in (None, "Request", "Response"):
            raise _Refused("spec.target", f"{target!r} is not Request or Response")
        if spec.get("code") is not None:
            raise _Refused("spec.code", "matching on the response code has no Aftershock field; without it "
                                        "more responses would be affected than written")
        for key in ("port", "path", "method", "request_headers"):
            if spec.get(key) is not None:
                fault[{"request_headers": "requestHeaders"}.get(key, key)] = spec[key]
        if spec.get("tls"):
            tls = spec["tls"]
            fault["tls"] = {"secretName": tls.get("secretName"), "secretNamespace": tls.get("secretNamespace"),
                            "certName": tls.get("certName"), "keyName": tls.get("keyName")}
    else:
        raise _Refused("kind", f"{kind!r}: Aftershock converts {', '.join(KINDS)} (others: a raw chaos-mesh fault)")
    _unknown("spec", spec, known)
    return fault, namespace, notes


def convert_objects(objects: list[Any], source: str = "", name: str | None = None) -> Converted:
    """Chaos Mesh objects (the documents of one file) → one experiment."""
    skipped: list[Skipped] = []
    notes: list[str] = []
    faults: list[dict[str, Any]] = []
    origins: list[str] = []
    namespaces: list[str] = []
    for i, obj in enumerate(objects):
        if obj is None:
            continue
        label = f"document {i + 1}" if len(objects) > 1 else "object"
        if not is_chaos_mesh(obj):
            skipped.append(Skipped(label, "not a Chaos Mesh object (apiVersion chaos-mesh.org/v1alpha1)", (i,)))
            continue
        where = f"{label} ({obj.get('kind')} {(obj.get('metadata') or {}).get('name')})"
        if obj.get("apiVersion") != API_VERSION:
            skipped.append(Skipped(where, f"apiVersion {obj.get('apiVersion')!r}: Aftershock reads {API_VERSION}",
                                   (i,)))
            continue
        fault_name = slug(str((obj.get("metadata") or {}).get("name") or "")) or f"fault-{i}"
        while fault_name in {f["name"] for f in faults}:
            fault_name = f"{fault_name[:58]}-{i}"
        try:
            fault, namespace, fault_notes = _fault(obj, fault_name)
        except _Refused as exc:
            skipped.append(Skipped(f"{where}: {exc.path}", exc.reason, (i,)))
            continue
        except (TypeError, ValueError, AttributeError) as exc:
            skipped.append(Skipped(where, f"bad value: {exc}", (i,)))
            continue
        notes += [f"{where}: {n}" for n in fault_notes]
        for key in ("labels", "annotations"):
            if (obj.get("metadata") or {}).get(key):
                notes.append(f"{where}: metadata.{key} not copied (Aftershock labels its objects itself)")
        faults.append(fault)
        origins.append(where)
        namespaces.append(namespace)
    spec: dict[str, Any] = {"target": {"type": "kubernetes", "namespace": namespaces[0] if namespaces else "default"}}
    reached: list[str] = []
    for fault, ns in zip(faults, namespaces, strict=True):
        selector = fault.setdefault("selector", {})
        if ns != spec["target"]["namespace"] and not selector.get("namespaces"):
            selector["namespaces"] = [ns]
        reached += selector.get("namespaces") or [ns]
        reached += list(selector.get("pods") or {})
        reached += (fault.get("peer") or {}).get("namespaces") or []
    if faults:
        spec["blastRadius"] = {"namespaces": sorted(set(reached))}
        if any(f.get("mode") == "all" for f in faults):
            spec["blastRadius"]["maxPercent"] = 100
            notes.append("blastRadius.maxPercent: 100 because an object has mode: all as written; lower it to "
                         "bound the run")
    spec["faults"] = faults
    first = faults[0]["name"] if faults else ""
    exp_name = name or (first if len(faults) == 1 else "") or slug(source.rsplit("/", 1)[-1].rsplit(".", 1)[0]) \
        or "imported"
    experiment = {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment",
                  "metadata": {"name": exp_name[:63].rstrip("-"),
                               "description": f"imported from Chaos Mesh object(s) in {source.rsplit('/', 1)[-1]}"},
                  "spec": spec}
    return Converted(experiment, skipped, notes, origins)
