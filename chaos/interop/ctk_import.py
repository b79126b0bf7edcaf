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
that do not validate, one by one).
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from chaos.interop.ctk import ACTIONS, GUARD, HELD_PROBE, PROBES, REDACTED, header_env
from chaos.interop.ctk_reach import reach_of

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
REF_RE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
WHOLE_REF_RE = re.compile(r"^\$\{([A-Za-z0-9_.-]+)\}$")

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
REMOVALS = {NETWORK: "delete_network_fault", STRESS: "delete_stressor"}
"""chaosk8s' removal of the Chaos Mesh object its actions create (by name and namespace)."""


def slug(text: str) -> str:
    """A DNS-1123 label from free text ("" when nothing is left); accents are transliterated
    (``¿Qué ocurre…`` → ``que-ocurre``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return out[:63].rstrip("-")


@dataclass(frozen=True)
class Skipped:
    """One part of the CTK experiment that is not in the result, and why."""

    where: str
    reason: str
    path: tuple[str | int, ...] = ()
    """Where in the source document (for its line number)."""

    def render(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Converted:
    experiment: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Values chosen because the CTK document has none (e.g. a default duration), and forms chosen."""
    fault_origins: list[str] = field(default_factory=list)
    """Per fault of the result, where it came from (``method[2] (name)``)."""
    fallbacks: dict[int, dict[str, Any]] = field(default_factory=dict)
    """fault index → its ``chaostoolkit`` form, used when another fault of the experiment runs in that form."""

    @property
    def outcome(self) -> Literal["full", "partial", "refused"]:
        """``full``: everything ran through; ``partial``: something was left out; ``refused``: no fault remains."""
        if not self.experiment.get("spec", {}).get("faults"):
            return "refused"
        return "partial" if self.skipped else "full"


class _Unconvertible(Exception):
    def __init__(self, where: str, reason: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(reason)
        self.skip = Skipped(where, reason, path)


class _NeedsRuntime(Exception):
    """The native form would need a value only known at run time: keep the CTK form."""


# ------------------------------------------------------------------------ configuration → parameters


def _param_name(key: str) -> str:
    name = re.sub(r"\W", "_", key)
    if not name or name[0].isdigit() or name in ("env", "true", "false", "none"):
        name = "p_" + name
    return name


class _Params:
    """``${key}`` (configuration or secrets) → ``{{ param }}``; the parameters it needs."""

    def __init__(self, configuration: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.configuration = configuration
        self.secret_values: dict[str, Any] = {}
        for scope in secrets.values():
            if isinstance(scope, dict):
                self.secret_values.update(scope)
        self.uses: dict[str, list[bool]] = {}
        """parameter → for each use, whether it is a place that takes values from the environment."""
        self.keys: dict[str, str] = {}

    def ref(self, key: str, sink: bool, where: str) -> str:
        if key in self.configuration:
            value = self.configuration[key]
        elif key in self.secret_values:
            value = self.secret_values[key]
            if not isinstance(value, dict) or value.get("type") != "env" or not sink:
                raise _NeedsRuntime  # a secret goes only where Aftershock masks it; else chaoslib holds it
        else:
            raise _Unconvertible(where, f"${{{key}}} is neither in the configuration nor in the secrets")
        if isinstance(value, dict) and "type" in value:
            if value.get("type") != "env" or not value.get("key"):
                raise _NeedsRuntime  # dynamic configuration: only chaoslib can compute it
            if value.get("default") is None and not sink:
                raise _NeedsRuntime
        name = _param_name(key)
        self.uses.setdefault(name, []).append(sink)
        self.keys[name] = key
        return f"{{{{ {name} }}}}"

    def parameters(self, notes: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, uses in self.uses.items():
            key = self.keys[name]
            value = self.configuration.get(key, self.secret_values.get(key))
            if isinstance(value, dict) and value.get("type") == "env":
                env = str(value["key"])
                default = value.get("default")
                if all(uses):
                    if default is None:
                        out[name] = f"{{{{ env.{env} }}}}"
                    else:
                        escaped = str(default).replace("\\", "\\\\").replace("'", "\\'")
                        out[name] = f"{{{{ env.{env} | default('{escaped}') }}}}"
                else:
                    out[name] = default
                    notes.append(f"configuration.{key}: Chaos Toolkit reads ${env} at run time; Aftershock "
                                 f"takes it as parameter {name} (default {default!r}): "
                                 f"aftershock run --set {name}=…")
            else:
                out[name] = value
        return out


def _substitute(value: Any, params: _Params, where: str, sink: Callable[[str], bool]) -> Any:
    """``${key}`` references in ``value`` → ``{{ param }}`` (``sink(arg)``: the argument takes env values)."""

    def walk(v: Any, arg: str, at: str) -> Any:
        if isinstance(v, str):
            whole = WHOLE_REF_RE.match(v)
            if whole:
                return params.ref(whole.group(1), sink(arg), at)
            return REF_RE.sub(lambda m: params.ref(m.group(1), sink(arg), at), v)
        if isinstance(v, dict):
            return {k: walk(x, arg or str(k), f"{at}.{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, arg, f"{at}[{i}]") for i, x in enumerate(v)]
        return v

    return walk(value, "", where)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


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


def _number(value: Any) -> Any:
    if _is_template(value):
        return value
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN")
    return number


def _int(value: Any) -> Any:
    return value if _is_template(value) else int(value)


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"


# ------------------------------------------------------------------------ native faults


def _chaosmesh_fault(func: str, module: str, args: dict[str, Any], name: str, where: str
                     ) -> tuple[dict[str, Any], str]:
    """A chaosk8s Chaos Mesh action → (fault without duration, namespace), with chaosk8s' defaults."""
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
        fault["direction"] = str(args.get("direction") or "to")
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
            fault["percent"] = _number(args[arg])
        else:
            for key in ("rate", "limit", "buffer", "peakrate", "minburst"):
                if args.get(key) is not None:
                    fault[key] = args[key] if key == "rate" else _int(args[key])
        if args.get("correlation") is not None and kind != "network-bandwidth":
            fault["correlation"] = _number(args["correlation"])
        if args.get("target_annotations_selectors"):
            raise _NeedsRuntime  # no peer annotation selector in Aftershock: chaosk8s writes it as it is
        # chaosk8s always writes spec.target (target_mode defaults to "one"; an empty selector means the
        # object's namespace): the peer is never wider than that.
        target_mode = str(args.get("target_mode") or "one")
        peer: dict[str, Any] = {"mode": target_mode,
                                "namespaces": _names(args.get("target_namespaces_selectors")) or [namespace]}
        if target_mode in ("fixed", "fixed-percent", "random-max-percent"):
            peer["value"] = str(args.get("target_mode_value") or "")
        if args.get("target_label_selectors"):
            peer["labels"] = _pairs(args["target_label_selectors"])
        if args.get("external_targets"):
            peer["externalTargets"] = _names(args["external_targets"])
        fault["peer"] = peer
    else:
        fault["type"] = "cpu-stress" if func == "stress_cpu" else "memory-stress"
        if args.get("workers") is not None:
            fault["workers"] = _int(args["workers"])
        if func == "stress_cpu" and args.get("load") is not None:
            fault["load"] = _int(args["load"])
        if func == "stress_memory" and args.get("size") is not None:
            fault["size"] = str(args["size"])
        for key in ("container_names", "stressng_stressors", "oom_score", "time_to_get_to_size"):
            if args.get(key):
                raise _NeedsRuntime  # no Aftershock field for it
    return fault, namespace


def _pod_kill(args: dict[str, Any], name: str) -> tuple[dict[str, Any], str, list[str]]:
    """terminate_pods → pod-kill (fault without duration, namespace, notes)."""
    if args.get("name_pattern"):
        raise _NeedsRuntime  # pods by name pattern: only chaosk8s selects them
    notes: list[str] = []
    fault: dict[str, Any] = {"name": name, "type": "pod-kill"}
    if args.get("label_selector"):
        fault["selector"] = {"labels": _pairs(args["label_selector"])}
    qty = args.get("qty", 1)
    if args.get("all"):
        fault["mode"] = "all"
    elif args.get("mode") == "percentage":
        fault["mode"], fault["value"] = "fixed-percent", str(qty)
    elif qty is not None and not _is_template(qty) and int(qty) > 1:
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
            return [("", "==", float(_number(expect)))]
        except (TypeError, ValueError):
            raise _Unconvertible(where, f"jsonpath expects {expect!r}, not a number") from None
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        bounds = tolerance.get("range")
    elif isinstance(tolerance, list) and len(tolerance) == 2 and not isinstance(tolerance[0], bool):
        bounds = tolerance
    else:
        raise _Unconvertible(where, f"tolerance {tolerance!r}: only a jsonpath 'expect' (==) or a numeric "
                                    "range converts to a PromQL objective")
    try:
        lo, hi = (float(_number(b)) for b in bounds or [])
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


def _http_probe(provider: dict[str, Any], tolerance: Any, params: _Params, where: str) -> dict[str, Any]:
    """A CTK HTTP probe whose tolerance is a status code (or several) → ``probe.http``."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, int) or (
            isinstance(tolerance, list) and tolerance and all(isinstance(t, int) and not isinstance(t, bool)
                                                             for t in tolerance))):
        raise _NeedsRuntime  # body/jsonpath/regex tolerances: chaoslib evaluates them
    if provider.get("arguments"):
        raise _NeedsRuntime  # a request body: CTK's form keeps it
    expected = [tolerance] if isinstance(tolerance, int) else list(tolerance)
    url = _substitute(provider.get("url"), params, f"{where}.provider.url", lambda _: True)
    if not url:
        raise _Unconvertible(where, "an HTTP probe without url")
    http: dict[str, Any] = {"url": url, "method": str(provider.get("method") or "GET").upper(),
                            "expectStatus": expected}
    timeout = provider.get("timeout")
    if isinstance(timeout, list):  # CTK: [connect, read]
        timeout = max(float(t) for t in timeout)
    if timeout is not None:
        http["timeout"] = _seconds_text(float(timeout))
    headers = provider.get("headers")
    if headers:
        http["headers"] = _substitute(headers, params, f"{where}.provider.headers", lambda _: True)
    return http


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

    params = _Params(configuration, secrets_doc)
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
            raise _Unconvertible(where, "not an activity (a mapping)", path)
        if "ref" in activity and "provider" not in activity:
            target = named.get(str(activity["ref"]))
            if target is None:
                raise _Unconvertible(where, f"ref {activity['ref']!r} names no activity defined before it", path)
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
                args = _substitute(provider.get("arguments") or {}, params, f"{where}.arguments",
                                   lambda _: False)
                if not args.get("query"):
                    raise _Unconvertible(where, "no query", path)
                objectives = _objectives(tolerance, f"{where}.tolerance")
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
                return [{"name": unique(probe_name), "probe": {"http": _http_probe(provider, tolerance, params,
                                                                                   where)}}]
            raise _NeedsRuntime
        except (_NeedsRuntime, _Unconvertible) as exc:
            if not fallback:
                if isinstance(exc, _Unconvertible):
                    raise
                raise _Unconvertible(where, f"{_describe(provider)} has no native SLO form (the chaostoolkit "
                                            "SLO source is not available)", path) from None
            if "tolerance" not in probe:
                raise _Unconvertible(where, "a probe without a tolerance has nothing to hold", path) from None
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
        except _Unconvertible as exc:
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
            said.append(f"{where}: duration {_seconds_text(float(pause))} from pauses.after (the time Chaos "
                         "Toolkit waits before the next activity)")
            return _seconds_text(float(pause))
        said.append(f"{where}: no duration or pauses.after; using {_seconds_text(default)} ({why})")
        return _seconds_text(default)

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
                raise _Unconvertible(where, "a probe in the method without a tolerance only records a value; "
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
                    raise _NeedsRuntime
                native = (module == NETWORK and func in NETWORK_TYPES) or (
                    module == STRESS and func in ("stress_cpu", "stress_memory")) or (
                    module == POD and func == "terminate_pods")
                if not native:
                    raise _NeedsRuntime
                args = _substitute(provider.get("arguments") or {}, params, f"{where}.arguments", lambda _: False)
                if module == POD:
                    fault, ns, pod_notes = _pod_kill(args, fault_name)
                    notes += [f"{where}: {n}" for n in pod_notes]
                    fault["duration"] = duration_of(activity, where, 30, "the window the SLOs are watched after it")
                else:
                    fault, ns = _chaosmesh_fault(str(func), str(module), args, fault_name, where)
                    own = args.get("duration") if module == STRESS else None
                    fault["duration"] = duration_of(activity, where, 60 if module == NETWORK else 30,
                                                    "chaosk8s' own default" if module == STRESS else
                                                    "Chaos Toolkit removes it with a later action", own)
                if ctk_form is not None:
                    fallbacks[len(faults)] = ctk_form
                faults.append(fault)
                namespaces.append(ns)
                origins.append(where)
            except _NeedsRuntime:
                if ctk_form is None:
                    raise _Unconvertible(where, f"{_describe(provider)} has no native Aftershock form (the "
                                                "chaostoolkit fault kind is not available)", path) from None
                if "rollback" not in ctk_form:
                    actions.append((len(faults), {**activity, "provider": provider}))
                notes.extend(ctk_notes)
                faults.append(ctk_form)
                namespaces.append(None)
                origins.append(where)
        except _Unconvertible as exc:
            skipped.append(Skipped(exc.skip.where, exc.skip.reason, exc.skip.path or path))
        except (TypeError, ValueError, AttributeError) as exc:
            skipped.append(Skipped(where, f"bad arguments: {exc}", path))

    # ---- rollbacks: paired with the CTK action they undo
    for i, raw in enumerate(document.get("rollbacks") or []):
        path = ("rollbacks", i)
        where = _where("rollbacks", i, raw)
        try:
            activity = deref(raw, where, path)
        except _Unconvertible as exc:
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


# ------------------------------------------------------------------------ validation, fault by fault

_ITEM_RE = re.compile(r"^spec\.(faults|slos)\[(\d+)\]")
PLACEHOLDER = "http://127.0.0.1:1"
"""The value every ``{{ env.NAME }}`` gets while the result is validated: import never reads the shell."""


def env_names(experiment: Mapping[str, Any]) -> set[str]:
    return set(re.findall(r"env\.([A-Za-z_][A-Za-z0-9_]*)", repr(experiment)))


def finish(converted: Converted, validate: Callable[[dict[str, Any], dict[str, str]], list[Any]]) -> list[Any]:
    """Validate the result; a fault or SLO that does not validate is set aside with the reason — one
    bad part is never fatal to the file. ``validate(document, environ)`` returns the loader's problems (``chaos.errors.Problem``).
    Returns the problems that are not about one fault or SLO (the result cannot be written)."""
    spec = converted.experiment.get("spec")
    if not isinstance(spec, dict):
        return []
    for _ in range(2 * (len(spec.get("faults", [])) + len(spec.get("slos", []))) + 1):
        if not spec.get("faults"):
            return []
        environ = dict.fromkeys(env_names(converted.experiment), PLACEHOLDER)
        problems = validate(copy.deepcopy(converted.experiment), environ)
        if not problems:
            return []
        per_item: dict[tuple[str, int], list[Any]] = {}
        other = []
        for problem in problems:
            match = _ITEM_RE.match(problem.path)
            if match:
                per_item.setdefault((match.group(1), int(match.group(2))), []).append(problem)
            else:
                other.append(problem)
        if not per_item:
            return other
        drop_faults: set[int] = set()
        for (section, index), item_problems in sorted(per_item.items()):
            text = "; ".join(f"{p.path}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in item_problems)
            if section == "faults":
                # a value the native form refuses would fail under `chaos run` too: reported, not kept
                drop_faults.add(index)
                origin = converted.fault_origins[index] if index < len(converted.fault_origins) else f"fault {index}"
                converted.skipped.append(Skipped(origin, f"refused: {text}"))
            else:
                slo = spec["slos"][index]
                converted.skipped.append(Skipped(f"SLO {slo.get('name')}", f"refused: {text}"))
                slo["drop"] = True
        if drop_faults:
            spec["faults"] = [f for i, f in enumerate(spec["faults"]) if i not in drop_faults]
            converted.fault_origins = [o for i, o in enumerate(converted.fault_origins) if i not in drop_faults]
            kept = [i for i in range(len(spec["faults"]) + len(drop_faults)) if i not in drop_faults]
            converted.fallbacks = {kept.index(i): f for i, f in converted.fallbacks.items() if i in kept}
        if any(s.get("drop") for s in spec.get("slos", [])):
            dropped = {s["name"] for s in spec["slos"] if s.get("drop")}
            spec["slos"] = [s for s in spec["slos"] if not s.get("drop")]
            spec["steadyState"] = [n for n in spec.get("steadyState", []) if n not in dropped]
            if not spec["slos"]:
                spec.pop("slos")
            if not spec["steadyState"]:
                spec.pop("steadyState")
    return []
