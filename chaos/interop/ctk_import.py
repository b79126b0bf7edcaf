"""A Chaos Toolkit experiment → an Aftershock experiment document, and the list of what could not
be converted (with the reason), so nothing is dropped silently.

Native forms, where Aftershock has one:

* chaostoolkit-kubernetes Chaos Mesh actions — ``chaosk8s.chaosmesh.network.actions``
  (``add_latency``, ``set_loss``, ``duplicate_packets``, ``corrupt_packets``, ``set_bandwidth``)
  and ``chaosk8s.chaosmesh.stress.actions`` (``stress_cpu``, ``stress_memory``) — to our Chaos Mesh
  faults with exactly chaosk8s' defaults: ``mode: one``; for network actions always a peer
  (``target_mode`` default ``one``, in the object's namespace unless the file names others), as
  chaosk8s always writes ``spec.target``; ``chaosk8s.pod.actions.terminate_pods`` to ``pod-kill``.
  Their ``delete_*`` rollbacks are covered by Aftershock's own removal;
* chaostoolkit-prometheus probes (``query``, ``query_interval``) with a ``jsonpath`` ``expect`` or a
  numeric ``range`` tolerance — to PromQL SLOs; ``prometheus_base_url`` — to ``spec.monitor.prometheus``;
* HTTP probes whose tolerance is a status code (or a list of them) — to HTTP probe SLOs
  (``slos[].probe.http``);
* documents written by ``aftershock export`` — the Aftershock document they carry.

Everything else becomes the ``chaostoolkit`` kinds (when ``fallback`` is on): a CTK action with
its paired CTK rollback as a ``type: chaostoolkit`` fault, a CTK probe with its tolerance as an SLO
with ``probe.chaostoolkit``; both run through chaoslib, which resolves the CTK ``configuration``
and ``secrets`` they carry at run time.

Configuration and secrets referenced with ``${key}`` become ``spec.parameters`` (``{{ key }}``),
resolved at run time: a ``{type: env}`` entry is ``{{ env.NAME }}`` where Aftershock accepts values
from the environment (addresses, header values), else its default (``--set key=…`` overrides it);
an entry with no default used elsewhere keeps the activity in its CTK form, where chaoslib reads
it. Nothing is read from the importing shell.

Pure: the caller reads the file (:func:`finish` validates the result and sets aside faults and SLOs
that do not validate, one by one). The native forms are in :mod:`chaos.interop.ctk_native`; what
every importer shares (the result, parameters, :func:`finish`) in :mod:`chaos.interop.import_common`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from chaos.interop.ctk import ACTIONS, GUARD, HELD_PROBE, PROBES, REDACTED, header_env
from chaos.interop.ctk_native import (
    DELETES,
    NETWORK,
    NETWORK_TYPES,
    POD,
    PROMETHEUS,
    REMOVALS,
    STRESS,
    chaosmesh_fault,
    http_probe,
    pod_kill,
    tolerance_objectives,
)
from chaos.interop.ctk_reach import reach_of
from chaos.interop.import_common import (
    REF_RE,
    Converted,
    NeedsRuntime,
    Params,
    Skipped,
    Unconvertible,
    finish,
    seconds_text,
    slug,
    substitute,
)

KNOWN_TOP = {"version", "title", "description", "tags", "configuration", "secrets", "controls",
             "steady-state-hypothesis", "method", "rollbacks", "extensions", "contributions", "runtime"}
INSTANTANEOUS: frozenset[tuple[str, str]] = frozenset({
    (POD, "terminate_pods"), (POD, "delete_pods"),
    ("chaosk8s.node.actions", "delete_nodes"),
    ("chaosaws.ec2.actions", "terminate_instances"), ("chaosaws.ec2.actions", "restart_instances"),
    ("chaosaws.rds.actions", "reboot_db_instance"), ("chaosaws.rds.actions", "failover_db_cluster"),
    ("chaosaws.ecs.actions", "stop_random_tasks"), ("chaosaws.ecs.actions", "stop_task"),
    ("chaosaws.eks.actions", "terminate_random_nodes"),
    ("chaosazure.machine.actions", "restart_machines"), ("chaosazure.vmss.actions", "restart_vmss"),
    ("chaosazure.webapp.actions", "restart_webapp"),
    ("chaosgcp.gke.nodepool.actions", "swap_nodepool"), ("chaosgcp.sql.actions", "trigger_failover"),
})
"""Actions whose effect is over once they return (a kill, a reboot, a failover): no rollback needed;
the fault's duration is the window Aftershock watches the SLOs after it."""
SELF_BOUNDED: dict[tuple[str, str], str] = {
    ("chaosaws.fis.actions", "start_experiment"): "",
    ("chaosazure.chaosstudio.actions", "start_experiment"): "",
}
"""Actions that carry their own end (AWS FIS templates, Chaos Mesh objects): no rollback needed."""


# ------------------------------------------------------------------------ CTK forms (the chaostoolkit kinds)


class _CtkForms:
    """The CTK configuration and secrets carried by ``chaostoolkit`` faults and probes: configuration as
    written (chaoslib resolves ``env`` entries at run time), secrets by reference only."""

    def __init__(self, configuration: Mapping[str, Any], secrets: Mapping[str, Any], notes: list[str]) -> None:
        self.configuration = {k: v for k, v in configuration.items() if not str(k).startswith("aftershock_")}
        self.secrets: dict[str, Any] = {}
        for scope, values in secrets.items():
            if not isinstance(values, dict):
                continue
            out: dict[str, Any] = {}
            for key, value in values.items():
                if isinstance(value, dict) and "type" in value:
                    out[key] = value
                else:
                    env = re.sub(r"\W", "_", f"{scope}_{key}").upper()
                    out[key] = {"type": "env", "key": env}
                    notes.append(f"secrets.{scope}.{key}: a value written in the file is not copied; the "
                                 f"converted experiment reads it from ${env}")
            self.secrets[str(scope)] = out

    def carried(self, activities: list[dict[str, Any]]) -> dict[str, Any]:
        """configuration + the secret scopes these activities name."""
        out: dict[str, Any] = {}
        text = repr(activities)
        python = any((a.get("provider") or {}).get("type") == "python" for a in activities)
        # a Python provider receives the whole configuration (drivers read e.g. aws_region from it)
        used = {k: v for k, v in self.configuration.items() if python or f"${{{k}}}" in text}
        if used:
            out["configuration"] = used
        scopes: list[str] = []
        for activity in activities:
            names = (activity.get("provider") or {}).get("secrets") or []
            scopes += [str(n) for n in (names if isinstance(names, list) else [names])]
        refs = set(REF_RE.findall(text))
        scopes += [s for s, values in self.secrets.items() if refs & set(values)]
        secrets = {s: self.secrets[s] for s in dict.fromkeys(scopes) if s in self.secrets}
        if secrets:
            out["secrets"] = secrets
        return out


def _clean_activity(activity: dict[str, Any]) -> dict[str, Any]:
    """A CTK activity as chaoslib runs it (``function`` spelled ``func``; pauses are Aftershock's)."""
    out = copy.deepcopy(activity)
    out.pop("pauses", None)
    provider = out.get("provider")
    if isinstance(provider, dict) and "func" not in provider and "function" in provider:
        provider["func"] = provider.pop("function")
    return out


def _provider_key(activity: dict[str, Any]) -> tuple[str, str]:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return str(provider.get("module")), str(provider.get("func"))
    if provider.get("type") == "process":
        return "process", str(provider.get("path"))
    return str(provider.get("type")), str(provider.get("url"))


def _package(activity: dict[str, Any]) -> str:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return str(provider.get("module") or "").split(".")[0]
    return str(provider.get("type"))


# ------------------------------------------------------------------------ the document


def _activity_name(activity: Any, i: int) -> str:
    return str((activity or {}).get("name") or (activity or {}).get("ref") or f"activity-{i}")


def _where(section: str, i: int, activity: Any) -> str:
    return f"{section}[{i}] ({_activity_name(activity, i)})"


def convert(document: Any, source: str = "", name: str | None = None, *, fallback: bool = True) -> Converted:
    """Convert a parsed CTK experiment; see the module docstring. ``fallback``: use the ``chaostoolkit``
    kinds for what has no native form (off: those parts are left out)."""
    skipped: list[Skipped] = []
    notes: list[str] = []
    if not isinstance(document, dict):
        return Converted({}, [Skipped("(document)", "not a Chaos Toolkit experiment (a mapping)")])
    configuration = document.get("configuration") or {}
    if not isinstance(configuration, dict):
        skipped.append(Skipped("configuration", "not a mapping", ("configuration",)))
        configuration = {}
    secrets_doc = document.get("secrets") or {}
    if not isinstance(secrets_doc, dict):
        skipped.append(Skipped("secrets", "not a mapping", ("secrets",)))
        secrets_doc = {}
    carried = configuration.get("aftershock_experiment")
    carried = copy.deepcopy(carried) if isinstance(carried, dict) and isinstance(carried.get("spec"), dict) else None
    if carried is not None:
        return _convert_export(document, carried, name, source)

    params = Params(configuration, secrets_doc)
    forms = _CtkForms(configuration, secrets_doc, notes)
    for key in document:
        if key not in KNOWN_TOP:
            skipped.append(Skipped(key, "not part of the Chaos Toolkit experiment format Aftershock reads", (key,)))
    for key in ("contributions", "runtime"):
        if document.get(key):
            notes.append(f"{key}: Chaos Toolkit run settings; Aftershock has its own (not copied)")
    for i, ext in enumerate(document.get("extensions") or []):
        if not (isinstance(ext, dict) and ext.get("name") == "aftershock"):
            skipped.append(Skipped(f"extensions[{i}]", "extensions of other tools are not converted",
                                   ("extensions", i)))
    for i, control in enumerate(document.get("controls") or []):
        module = ((control or {}).get("provider") or {}).get("module")
        if module != GUARD:
            skipped.append(Skipped(f"controls[{i}] ({(control or {}).get('name')})",
                                   "Chaos Toolkit controls do not run in Aftershock; its policies and monitor "
                                   "take their place", ("controls", i)))

    title = str(document.get("title") or "")
    exp_name = name or slug(title) or slug(source.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or "imported"
    description = str(document.get("description") or "")
    labels: dict[str, str] = {}
    bare: list[str] = []
    for tag in document.get("tags") or []:
        key, sep, value = str(tag).partition(":")
        if sep and slug(key) == key:
            labels[key] = value
        else:
            bare.append(str(tag))
    if bare:
        labels["chaostoolkit-tags"] = ",".join(bare)[:63]
        notes.append(f"tags {bare} kept as label chaostoolkit-tags (labels are key:value)")

    named: dict[str, dict[str, Any]] = {}
    """Activities by name, for ``ref:`` entries."""

    def deref(activity: Any, where: str, path: tuple[str | int, ...]) -> dict[str, Any]:
        if not isinstance(activity, dict):
            raise Unconvertible(where, "not an activity (a mapping)", path)
        if "ref" in activity and "provider" not in activity:
            target = named.get(str(activity["ref"]))
            if target is None:
                raise Unconvertible(where, f"ref {activity['ref']!r} names no activity defined before it", path)
            return target
        if activity.get("name"):
            named[str(activity["name"])] = activity
        provider = activity.get("provider")
        if isinstance(provider, dict) and "func" not in provider and "function" in provider:
            notes.append(f"{where}: provider 'function' read as Chaos Toolkit's 'func'")
        return activity

    # ---- hypothesis: SLOs
    slos: list[dict[str, Any]] = []
    steady: list[str] = []
    prometheus: Any = None
    used_names: set[str] = set()

    def unique(base: str) -> str:
        out, n = base, 2
        while out in used_names:
            out = f"{base[:60]}-{n}"
            n += 1
        used_names.add(out)
        return out

    def probe_slos(probe: dict[str, Any], where: str, path: tuple[str | int, ...]) -> list[dict[str, Any]]:
        nonlocal prometheus
        provider = dict(probe.get("provider") or {})
        if "func" not in provider and "function" in provider:
            provider["func"] = provider.pop("function")
        module, func = provider.get("module"), provider.get("func")
        probe_name = slug(str(probe.get("name") or "")) or f"slo-{len(slos)}"
        tolerance = probe.get("tolerance")
        try:
            if provider.get("type") == "python" and module == PROMETHEUS and func in ("query", "query_interval"):
                args = substitute(provider.get("arguments") or {}, params, f"{where}.arguments",
                                   lambda _: False)
                if not args.get("query"):
                    raise Unconvertible(where, "no query", path)
                objectives = tolerance_objectives(tolerance, f"{where}.tolerance")
                if func == "query_interval":
                    notes.append(f"{where}: a range query ({args.get('start')} → {args.get('end')}) "
                                 "becomes an instant query evaluated every monitor interval")
                out = []
                for suffix, obj_op, obj_value in objectives:
                    slo_name = unique((probe_name[: 63 - len(suffix)] + suffix) if suffix else probe_name)
                    out.append({"name": slo_name, "query": str(args["query"]),
                                "objective": {"op": obj_op, "value": obj_value}})
                if "prometheus_base_url" in configuration and prometheus is None:
                    prometheus = params.ref("prometheus_base_url", True, "configuration.prometheus_base_url")
                return out
            if provider.get("type") == "http":
                return [{"name": unique(probe_name), "probe": {"http": http_probe(provider, tolerance, params,
                                                                                   where)}}]
            raise NeedsRuntime
        except (NeedsRuntime, Unconvertible) as exc:
            if not fallback:
                if isinstance(exc, Unconvertible):
                    raise
                raise Unconvertible(where, f"{_describe(provider)} has no native SLO form (the chaostoolkit "
                                            "SLO source is not available)", path) from None
            if "tolerance" not in probe:
                raise Unconvertible(where, "a probe without a tolerance has nothing to hold", path) from None
            activity = _clean_activity({**probe, "provider": provider})
            return [{"name": unique(probe_name),
                     "probe": {"chaostoolkit": {"activity": activity, **forms.carried([activity])}}}]

    hypothesis = document.get("steady-state-hypothesis") or {}
    watched: set[int] = set()
    """Probes already converted to SLOs (a ``ref`` to one in the method adds nothing: SLOs are watched throughout)."""
    for i, probe in enumerate(hypothesis.get("probes") or [] if isinstance(hypothesis, dict) else []):
        path: tuple[str | int, ...] = ("steady-state-hypothesis", "probes", i)
        where = _where("steady-state-hypothesis.probes", i, probe)
        try:
            probe = deref(probe, where, path)
            provider = probe.get("provider") or {}
            if provider.get("module") == PROBES and provider.get("func") == HELD_PROBE.replace("-", "_"):
                continue
            for slo in probe_slos(probe, where, path):
                slos.append(slo)
                steady.append(slo["name"])
            watched.add(id(probe))
        except Unconvertible as exc:
            skipped.append(Skipped(exc.skip.where, exc.skip.reason, exc.skip.path or path))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            skipped.append(Skipped(where, f"bad arguments: {exc}", path))

    # ---- method: faults
    faults: list[dict[str, Any]] = []
    origins: list[str] = []
    namespaces: list[str | None] = []
    fallbacks: dict[int, dict[str, Any]] = {}
    actions: list[tuple[int, dict[str, Any]]] = []
    """(fault index, CTK action) of faults in CTK form waiting for a rollback."""
    method = document.get("method") or []

    def duration_of(activity: dict[str, Any], where: str, default: float, why: str,
                    own: Any = None, sink: list[str] | None = None) -> str:
        said = notes if sink is None else sink
        if own:
            return str(own)
        pause = (activity.get("pauses") or {}).get("after")
        if isinstance(pause, int | float) and not isinstance(pause, bool) and pause > 0:
            said.append(f"{where}: duration {seconds_text(float(pause))} from pauses.after (the time Chaos "
                         "Toolkit waits before the next activity)")
            return seconds_text(float(pause))
        said.append(f"{where}: no duration or pauses.after; using {seconds_text(default)} ({why})")
        return seconds_text(default)

    def ctk_fault(activity: dict[str, Any], fault_name: str, where: str, sink: list[str]) -> dict[str, Any]:
        key = _provider_key(activity)
        clean = _clean_activity(activity)
        fault: dict[str, Any] = {"name": fault_name, "type": "chaostoolkit", "action": clean}
        removal = REMOVALS.get(key[0])
        args = (activity.get("provider") or {}).get("arguments")
        if removal is not None and isinstance(args, dict) and args.get("name"):
            # what Aftershock does to its own Chaos Mesh faults: delete the object at the deadline
            fault["ends"] = "rollback"
            fault["rollback"] = {"type": "action", "name": f"delete-{slug(str(args['name'])) or 'fault'}",
                                 "provider": {"type": "python", "module": key[0], "func": removal,
                                              "arguments": {"name": args["name"], "ns": args.get("ns", "default")}}}
            fault["duration"] = duration_of(activity, where, 60, "its Chaos Mesh object is deleted at the end of it",
                                            sink=sink)
            sink.append(f"{where}: in its Chaos Toolkit form, the Chaos Mesh object is deleted at the deadline "
                        f"({key[0]}.{removal})")
        elif key in INSTANTANEOUS:
            fault["ends"] = "instantaneous"
            fault["duration"] = duration_of(activity, where, 30, "the window the SLOs are watched after it",
                                            sink=sink)
        elif key in SELF_BOUNDED:
            fault["ends"] = "self"
            fault["duration"] = duration_of(activity, where, 300, "an upper bound of its own duration", sink=sink)
        else:
            fault["ends"] = "rollback"
            fault["duration"] = duration_of(activity, where, 60, "its rollback runs at the end of it", sink=sink)
        fault.update(forms.carried([clean]))
        return fault

    for i, raw in enumerate(method):
        path = ("method", i)
        where = _where("method", i, raw)
        try:
            activity = deref(raw, where, path)
            provider = dict(activity.get("provider") or {})
            if "func" not in provider and "function" in provider:
                provider["func"] = provider.pop("function")
            module, func = provider.get("module"), provider.get("func")
            if activity.get("type") == "probe":
                if id(activity) in watched:
                    notes.append(f"{where}: the steady-state probe again; Aftershock watches its SLO throughout")
                    continue
                if "tolerance" in activity:
                    for slo in probe_slos(activity, where, path):
                        slos.append(slo)
                    notes.append(f"{where}: a probe in the method becomes an SLO watched while the faults are live")
                    continue
                raise Unconvertible(where, "a probe in the method without a tolerance only records a value; "
                                            "Aftershock records its SLOs while faults are live", path)
            if provider.get("type") == "python" and module == ACTIONS:
                continue  # Aftershock's own extension: what its run does itself
            if (module, func) in DELETES:
                notes.append(f"{where}: removal in the method; Aftershock removes its faults at the end of the "
                             "fault's duration or on a policy")
                continue
            arguments = provider.get("arguments")
            own_name = arguments.get("name") if isinstance(arguments, dict) else None
            fault_name = slug(str(own_name or activity.get("name") or "")) or f"fault-{i}"
            while fault_name in {f["name"] for f in faults}:
                fault_name = f"{fault_name[:58]}-{i}"
            ctk_notes: list[str] = []
            ctk_form = ctk_fault({**activity, "provider": provider}, fault_name, where, ctk_notes) if fallback \
                else None
            try:
                if provider.get("type") != "python":
                    raise NeedsRuntime
                native = (module == NETWORK and func in NETWORK_TYPES) or (
                    module == STRESS and func in ("stress_cpu", "stress_memory")) or (
                    module == POD and func == "terminate_pods")
                if not native:
                    raise NeedsRuntime
                args = substitute(provider.get("arguments") or {}, params, f"{where}.arguments", lambda _: False)
                if module == POD:
                    fault, ns, pod_notes = pod_kill(args, fault_name)
                    notes += [f"{where}: {n}" for n in pod_notes]
                    fault["duration"] = duration_of(activity, where, 30, "the window the SLOs are watched after it")
                else:
                    fault, ns = chaosmesh_fault(str(func), str(module), args, fault_name, where)
                    own = args.get("duration") if module == STRESS else None
                    fault["duration"] = duration_of(activity, where, 60 if module == NETWORK else 30,
                                                    "chaosk8s' own default" if module == STRESS else
                                                    "Chaos Toolkit removes it with a later action", own)
                if ctk_form is not None:
                    fallbacks[len(faults)] = ctk_form
                faults.append(fault)
                namespaces.append(ns)
                origins.append(where)
            except NeedsRuntime:
                if ctk_form is None:
                    raise Unconvertible(where, f"{_describe(provider)} has no native Aftershock form (the "
                                                "chaostoolkit fault kind is not available)", path) from None
                if "rollback" not in ctk_form:
                    actions.append((len(faults), {**activity, "provider": provider}))
                notes.extend(ctk_notes)
                faults.append(ctk_form)
                namespaces.append(None)
                origins.append(where)
        except Unconvertible as exc:
            skipped.append(Skipped(exc.skip.where, exc.skip.reason, exc.skip.path or path))
        except (TypeError, ValueError, AttributeError) as exc:
            skipped.append(Skipped(where, f"bad arguments: {exc}", path))

    # ---- rollbacks: paired with the CTK action they undo
    for i, raw in enumerate(document.get("rollbacks") or []):
        path = ("rollbacks", i)
        where = _where("rollbacks", i, raw)
        try:
            activity = deref(raw, where, path)
        except Unconvertible as exc:
            skipped.append(exc.skip)
            continue
        provider = dict(activity.get("provider") or {})
        if "func" not in provider and "function" in provider:
            provider["func"] = provider.pop("function")
        key = (provider.get("module"), provider.get("func"))
        if key == (ACTIONS, "remove_faults"):
            continue  # Aftershock removes every fault it injected itself
        match = _pair({**activity, "provider": provider}, actions, lambda j: str(faults[j].get("ends")))
        if match is None and key in DELETES:
            continue  # the removal of a fault converted to its native form: Aftershock removes it itself
        if match is None:
            skipped.append(Skipped(where, "pairs with no action of the method (same driver, same target "
                                          "arguments): Aftershock runs a rollback as the removal of one fault", path))
            continue
        fault = faults[match]
        fault["rollback"] = _clean_activity({**activity, "provider": provider})
        extra = forms.carried([fault["action"], fault["rollback"]])
        fault.update(extra)
        actions[:] = [(idx, a) for idx, a in actions if idx != match]
    for idx, activity in actions:
        fault = faults[idx]
        if fault.get("ends") == "rollback":
            skipped.append(Skipped(origins[idx], f"{_describe(activity.get('provider') or {})} has no rollback and "
                                   "is not known to be instantaneous or self-bounded: Aftershock could not end "
                                   "it (add a rollback, or declare ends: instantaneous / self in the "
                                   "converted fault)", ("method", int(origins[idx].split("[")[1].split("]")[0]))))
            fault["drop"] = True
    keep = [j for j, f in enumerate(faults) if not f.pop("drop", False)]
    faults = [faults[j] for j in keep]
    origins = [origins[j] for j in keep]
    namespaces = [namespaces[j] for j in keep]
    fallbacks = {keep.index(j): f for j, f in fallbacks.items() if j in keep}

    # ---- assemble
    spec_out: dict[str, Any] = {}
    parameters = params.parameters(notes)
    if parameters:
        spec_out["parameters"] = parameters
    spec_out["target"] = {"type": "kubernetes"}
    known_ns: list[str] = [ns for ns in namespaces if ns is not None]
    if known_ns:
        spec_out["target"]["namespace"] = known_ns[0]
        all_ns: list[str] = []
        for fault, maybe_ns in zip(faults, namespaces, strict=True):
            if maybe_ns is None:
                continue
            ns = maybe_ns
            if ns != known_ns[0]:
                fault.setdefault("selector", {}).setdefault("namespaces", [ns])
            all_ns += fault.get("selector", {}).get("namespaces") or [ns]
            all_ns += (fault.get("peer") or {}).get("namespaces") or []
        spec_out["blastRadius"] = {"namespaces": sorted(set(all_ns))}
        if any(f.get("mode") == "all" for f in faults if f.get("type") != "chaostoolkit"):
            spec_out["blastRadius"]["maxPercent"] = 100
            notes.append("blastRadius.maxPercent: 100 because an action selects all matching pods as written; "
                         "lower it to bound the run")
    spec_out["faults"] = faults
    if slos:
        spec_out["slos"] = slos
        if steady:
            spec_out["steadyState"] = steady
    if prometheus:
        spec_out["monitor"] = {"prometheus": prometheus}
    metadata: dict[str, Any] = {"name": exp_name}
    if description:
        metadata["description"] = description
    if labels:
        metadata["labels"] = labels
    experiment = {"apiVersion": "aftershock/v1alpha1", "kind": "Experiment", "metadata": metadata, "spec": spec_out}
    converted = Converted(experiment, skipped, notes, origins, fallbacks)
    _one_target(converted)
    return converted


def _one_target(converted: Converted) -> None:
    """An experiment has one target: once a fault runs in its Chaos Toolkit form (from this host, through
    chaoslib), every fault does — as under ``chaos run``."""
    spec = converted.experiment.get("spec") or {}
    faults = spec.get("faults") or []
    if not any(f.get("type") == "chaostoolkit" for f in faults):
        return
    native = [i for i, f in enumerate(faults) if f.get("type") != "chaostoolkit"]
    for i in native:
        faults[i] = converted.fallbacks.pop(i)
    if native:
        converted.notes.append("faults " + ", ".join(converted.fault_origins[i] for i in native) + " run in their "
                               "Chaos Toolkit form too: an experiment has one target, and the Chaos Toolkit actions "
                               "of this one run from this host")
    spec["target"] = {"type": "host"}
    spec.pop("blastRadius", None)
    # what the chaostoolkit-kubernetes actions select is counted against the blast radius: it is the
    # namespaces they name, as the file wrote them
    reaches = [reach_of(f.get("action") or {}) for f in faults]
    reached = sorted({ns for r in reaches for _, ns in r.namespaces})
    if reached:
        radius: dict[str, Any] = {"namespaces": reached}
        if any(r.mode == "all" for r in reaches if r.namespaces):
            radius["maxPercent"] = 100
            converted.notes.append("blastRadius.maxPercent: 100 because an action selects all matching objects as "
                                   "written; lower it to bound the run")
        rest = {k: spec.pop(k) for k in list(spec) if k not in ("parameters", "target")}
        spec.update({"blastRadius": radius, **rest})


def _describe(provider: Mapping[str, Any]) -> str:
    kind = provider.get("type")
    if kind == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if kind == "process":
        return f"process {provider.get('path')!r}"
    if kind == "http":
        return f"HTTP {provider.get('method') or 'GET'} {provider.get('url')}"
    return f"a {kind!r} provider"


def _target_args(activity: Mapping[str, Any]) -> dict[str, Any]:
    args = (activity.get("provider") or {}).get("arguments") or {}
    if not isinstance(args, dict):
        return {}
    return {k: v for k, v in args.items() if k in ("name", "names", "ns", "namespace", "instance_ids", "az",
                                                     "cluster", "service", "proxy_name", "toxic_name",
                                                     "resource_group", "virtual_service_name", "deployment_name",
                                                     "label_selector", "filters", "db_instance_identifier")}


def _pair(rollback: Mapping[str, Any], actions: list[tuple[int, dict[str, Any]]],
          ends: Callable[[int], str]) -> int | None:
    """The fault whose CTK action this rollback undoes: an action of the same driver whose target
    arguments agree with the rollback's (none differs, one at least is shared when both name targets);
    among them one that needs a rollback, the latest first."""
    package = _package(dict(rollback))
    want = _target_args(rollback)
    candidates: list[tuple[bool, int]] = []
    for order, (idx, action) in enumerate(actions):
        if _package(action) != package:
            continue
        have = _target_args(action)
        shared = [k for k in want if k in have]
        if any(have[k] != want[k] for k in shared) or (want and have and not shared):
            continue
        candidates.append((ends(idx) == "rollback", order))
    if not candidates:
        return None
    return int(actions[max(candidates)[1]][0])


# ------------------------------------------------------------------------ aftershock export round trip


def _convert_export(document: dict[str, Any], carried: dict[str, Any], name: str | None, source: str) -> Converted:
    skipped: list[Skipped] = []
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
    carried_faults = {f.get("name"): f for f in carried["spec"].get("faults", [])}
    faults: list[dict[str, Any]] = []
    for i, activity in enumerate(document.get("method") or []):
        provider = (activity or {}).get("provider") or {}
        if provider.get("module") == ACTIONS and provider.get("func") == "inject_fault":
            fault_ref = (provider.get("arguments") or {}).get("fault")
            if fault_ref in carried_faults:
                faults.append(carried_faults[fault_ref])
            else:
                skipped.append(Skipped(_where("method", i, activity), f"fault {fault_ref!r} is not in the carried "
                                       "Aftershock experiment (configuration.aftershock_experiment)", ("method", i)))
    carried_slos = {s.get("name"): s for s in carried["spec"].get("slos", [])}
    steady: list[str] = []
    for probe in (document.get("steady-state-hypothesis") or {}).get("probes") or []:
        provider = (probe or {}).get("provider") or {}
        if provider.get("module") == PROBES and provider.get("func") == "probe_holds":  # a probe SLO we exported
            slo_name = slug(str((probe or {}).get("name") or ""))
            args = provider.get("arguments") or {}
            if (probe or {}).get("tolerance") is not True or not isinstance(args.get("probe"), dict):
                skipped.append(Skipped(f"steady-state-hypothesis ({slo_name})", "probe_holds needs tolerance true "
                                       "and a probe; the carried SLO is kept"))
            elif slo_name in carried_slos:
                probed = carried_slos[slo_name]
                probed.update({"probe": args["probe"]})  # edited in Chaos Toolkit's document: the probe wins
                probed.pop("query", None)
                probed.pop("objective", None)
            if slo_name in carried_slos:
                steady.append(slo_name)
        elif provider.get("module") == PROBES and provider.get("func") == "slo_holds":
            slo_name = slug(str((probe or {}).get("name") or ""))
            args = provider.get("arguments") or {}
            if slo_name in carried_slos:
                steady.append(slo_name)
                try:  # edited in Chaos Toolkit's document: the probe wins
                    carried_slos[slo_name].update({"query": str(args["query"]), "objective": {
                        "op": str(args["op"]), "value": float(args["value"])}})
                except (KeyError, TypeError, ValueError):
                    skipped.append(Skipped(f"steady-state-hypothesis ({slo_name})", "slo_holds needs query, op "
                                           "and a numeric value; the carried SLO is kept"))
    spec = carried["spec"]
    spec["steadyState"] = steady
    spec["faults"] = faults
    monitor = spec.setdefault("monitor", {})
    headers = monitor.get("headers") or {}
    monitor["headers"] = {k: (f"{{{{ env.{header_env(k)} }}}}" if v == REDACTED else v) for k, v in headers.items()}
    experiment = {"apiVersion": carried.get("apiVersion", "aftershock/v1alpha1"), "kind": "Experiment",
                  "metadata": {"name": exp_name, "description": description, "labels": labels}, "spec": spec}
    return Converted(experiment, skipped, [], [f"method ({f.get('name')})" for f in faults])


__all__ = ["Converted", "Skipped", "convert", "finish", "slug"]
