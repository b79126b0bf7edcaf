"""What a Chaos Toolkit action reaches, from its arguments, for the blast radius. Pure.

chaostoolkit-kubernetes (``chaosk8s``) actions name what they act on by arguments — ``ns``,
``label_selector`` / ``label_selectors``, ``name``, ``name_pattern``, ``all`` / ``qty`` / ``mode``,
Chaos Mesh's ``namespaces_selectors`` / ``mode`` / ``mode_value`` and the peer's ``target_*`` (the
names and defaults of chaosk8s' own functions). Those are counted like an Aftershock Kubernetes
fault's selector (:func:`chaos.model.checks` — namespaces inside ``blastRadius.namespaces``, no system
namespace, a selection narrower than "every pod of the namespace", ``all``/percentages bounded by
``maxTargets``/``maxPercent``). What cannot be counted is said in words: process providers (a
command on the Aftershock host, reaching whatever it reaches), HTTP providers (what the endpoint
does), other drivers (AWS, Azure, ...), cluster-scoped objects (nodes), arguments resolved by
chaoslib at run time (``${...}``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from chaos.interop.ctk_credentials import CREDENTIAL_NAME_RE
from chaos.model.kinds import Reach
from chaos.secrets import MASK, scrub

_DEFAULT_NS = "default"
"""chaosk8s' default ``ns`` for every namespaced function."""

_PODS = {"terminate_pods", "exec_in_pods", "delete_pods"}
"""Functions of ``chaosk8s.pod.actions`` that select pods with ``_select_pods`` (or, deprecated, by name)."""
_BY_NAME_OR_LABEL = {"delete_deployment", "remove_statefulset", "delete_replica_set", "delete_daemon_set"}
"""Delete every object named ``name`` or labelled ``label_selector`` — every one of the namespace when neither."""
_POD_SELECTORS = {"deny_all_ingress", "deny_all_egress", "allow_dns_access"}
"""A NetworkPolicy over the pods matching ``label_selectors`` — every pod of the namespace when none."""
_NODES = "chaosk8s.node."
_CLUSTER = {"create_namespace", "create_cluster_custom_object", "delete_cluster_custom_object",
            "patch_cluster_custom_object", "replace_cluster_custom_object", "apply_from_json", "apply_from_yaml"}


def _late(value: Any) -> bool:
    """Resolved by chaoslib at run time (a ``${name}`` of the configuration)."""
    return isinstance(value, str) and "${" in value


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _qty(args: Mapping[str, Any]) -> tuple[str, str]:
    """``_select_pods``' all / mode / qty as Chaos Mesh's mode vocabulary (one, fixed, fixed-percent, all)."""
    if args.get("all") is True:
        return "all", ""
    qty = args.get("qty", 1)
    if args.get("mode") == "percentage":
        return "fixed-percent", str(qty)
    if _late(qty) or (isinstance(qty, int) and not isinstance(qty, bool) and qty > 1):
        return "fixed", str(qty)
    return "one", ""


def _how_many(mode: str, value: str) -> str:
    return {"one": "1", "all": "all", "fixed": value, "fixed-percent": f"{value}% of the",
            "random-max-percent": f"up to {value}% of the"}.get(mode, f"{mode} {value}".strip())


def _labels(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _pods(args: Mapping[str, Any], mode: str, value: str, label_key: str, by_name: bool = True) -> str:
    """Words of a pod selection; ``by_name``: ``name``/``name_pattern`` select pods (not so for Chaos Mesh
    actions, whose ``name`` is the Chaos Mesh object's)."""
    how = _how_many(mode, value)
    noun = "pod" if how == "1" else "pods"
    if args.get(label_key):
        noun += f" labelled {_labels(args[label_key])}"
    named = by_name and (args.get("name_pattern") or args.get("name"))
    if named:
        noun += f" named like {named!r}"
    if args.get("annotations_selectors"):
        noun += f" annotated {_labels(args['annotations_selectors'])}"
    if not args.get(label_key) and not named and not args.get("annotations_selectors"):
        noun += " (any pod)"
    return f"{how} {noun}"


def reach_of(action: Mapping[str, Any], path: str = "action") -> Reach:
    """What ``action`` (a CTK activity) reaches; ``path``: its field path under the fault."""
    provider = action.get("provider") or {}
    kind = provider.get("type")
    if kind == "process":
        return Reach(uncounted=("what the command reaches is not counted by Aftershock",))
    if kind == "http":
        return Reach(uncounted=("an HTTP request: what the endpoint does is not counted by Aftershock",))
    module, func = str(provider.get("module") or ""), str(provider.get("func") or "")
    raw = provider.get("arguments")
    args: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    where = f"{path}.provider.arguments"
    if not module.startswith("chaosk8s."):
        return Reach(uncounted=(f"what {module.split('.')[0]} reaches is not counted by Aftershock (only "
                                "chaostoolkit-kubernetes arguments are)",))
    if module.startswith(_NODES) or func in _CLUSTER:
        scope = "nodes, and every pod on them" if module.startswith(_NODES) else "objects outside any namespace"
        return Reach(uncounted=(f"it acts on cluster-scoped {scope}: not counted by Aftershock's blast radius, "
                                "which is namespaces",))
    uncounted: list[str] = []
    namespaces: list[tuple[str, str]] = []

    def namespace(key: str, value: Any) -> None:
        if _late(value):
            uncounted.append(f"namespace {value} ({key}) is resolved at run time: not counted by Aftershock")
        else:
            namespaces.append((f"{where}.{key}", str(value)))

    def reach(narrowed: bool, what: str, mode: str = "one", value: str = "") -> Reach:
        return Reach(namespaces=tuple(namespaces), narrowed=narrowed, mode=mode, value=value, path=where,
                     what=what, uncounted=tuple(uncounted))

    if func == "delete_namespace":
        namespace("name", args.get("name"))
        return reach(False, "every object of the namespace (it is deleted)", "all")
    own = _names(args.get("namespaces_selectors"))
    for ns in own:
        namespace("namespaces_selectors", ns)
    if not own:
        namespace("ns", args.get("ns", _DEFAULT_NS))
    for ns in _names(args.get("target_namespaces_selectors")):
        namespace("target_namespaces_selectors", ns)
    if func == "create_custom_object" and args.get("group") == "chaos-mesh.org":
        return _chaos_mesh_object(args.get("resource"), namespace, reach, uncounted)
    if ".chaosmesh." in module:  # a Chaos Mesh object: its selector and mode as chaosk8s writes them
        mode, value = str(args.get("mode") or "one"), str(args.get("mode_value") or "")
        return reach(bool(args.get("label_selectors") or args.get("annotations_selectors")),
                     _pods(args, mode, value, "label_selectors", by_name=False), mode, value)
    if func in _PODS:
        # delete_pods (deprecated) is terminate_pods(name_pattern=name, label_selector=...) with qty 1
        mode, value = ("one", "") if func == "delete_pods" else _qty(args)
        return reach(bool(args.get("label_selector") or args.get("name_pattern") or args.get("name")),
                     _pods(args, mode, value, "label_selector"), mode, value)
    noun = func.split("_", 1)[1].replace("_", " ") if "_" in func else "object"
    if func in _BY_NAME_OR_LABEL:
        if args.get("name"):
            return reach(True, f"{noun} {args['name']}")
        if args.get("label_selector"):
            return reach(True, f"every {noun} labelled {_labels(args['label_selector'])}", "all")
        return reach(False, f"every {noun} (no name or label_selector)", "all")
    if func in _POD_SELECTORS:
        if args.get("label_selectors"):
            return reach(True, f"all pods labelled {_labels(args['label_selectors'])}", "all")
        return reach(False, "all pods (no label_selectors)", "all")
    # the rest name one object (scale_deployment, rollout_deployment, delete_service, kill_microservice, ...)
    # or create one from a spec (create_*): one object of the namespace
    return reach(True, f"{noun} {args['name']}" if args.get("name") else f"{func.replace('_', ' ')}")


_NARROWING = ("labelSelectors", "expressionSelectors", "annotationSelectors", "fieldSelectors", "pods")
"""Chaos Mesh selector keys that narrow a selection below "every pod of the namespaces"."""


def _chaos_mesh_object(resource: Any, namespace: Callable[[str, Any], None], reach: Callable[..., Reach],
                       uncounted: list[str]) -> Reach:
    """A Chaos Mesh object written out in ``create_custom_object``'s ``resource``: counted by the object's
    own selector (``spec.selector`` and ``spec.target.selector``: namespaces, labels, mode/value) — its
    ``selector.namespaces`` may name other namespaces than the ``ns`` it is created in."""
    field = "resource.spec"
    spec = resource.get("spec") if isinstance(resource, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(spec.get("selector"), Mapping):
        why = ("read from a file at run time (resource_as_yaml_file)" if not isinstance(resource, Mapping)
               else "without spec.selector (a Schedule or Workflow wraps its chaos)")
        uncounted.append(f"a Chaos Mesh object {why}: what it selects is not counted by Aftershock")
        return reach(True, "a Chaos Mesh object")
    selector: Mapping[str, Any] = spec["selector"]
    for ns in _names(selector.get("namespaces")):
        namespace(f"{field}.selector.namespaces", ns)
    target = spec.get("target")
    if isinstance(target, Mapping) and isinstance(target.get("selector"), Mapping):
        for ns in _names(target["selector"].get("namespaces")):
            namespace(f"{field}.target.selector.namespaces", ns)
    mode, value = str(spec.get("mode") or "one"), str(spec.get("value") or "")
    words = {"label_selectors": selector.get("labelSelectors"),
             "annotations_selectors": selector.get("annotationSelectors")}
    kind = str(resource.get("kind") or "Chaos Mesh object")
    return reach(any(selector.get(k) for k in _NARROWING),
                 f"{kind} over {_pods(words, mode, value, 'label_selectors', by_name=False)}", mode, value)


_FLAG_RE = re.compile(r"^--?[A-Za-z0-9_-]*(?:passw|pwd|token|secret|api-?key|apikey|auth|credential)[A-Za-z0-9_-]*$",
                      re.IGNORECASE)
_ASSIGN_RE = re.compile(r"^(-{0,2}[A-Za-z0-9_.-]+[=:])(.+)$")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+[^\s'\"]+")


def command_words(provider: Mapping[str, Any]) -> str:
    """A process provider's command line as words (path and arguments), credentials scrubbed: values of
    credential-like flags (``--password x``, ``--token=x``) and variables (``AWS_SECRET_ACCESS_KEY=x``),
    ``Bearer x``, URL userinfo and credential query parameters, and every secret value this process knows."""
    arguments = provider.get("arguments")
    if isinstance(arguments, list):
        rest = [str(a) for a in arguments]
    elif arguments:
        rest = shlex.split(str(arguments)) if _splits(str(arguments)) else [str(arguments)]
    else:
        rest = []
    shown: list[str] = []
    hide_next = False
    for arg in rest:
        if hide_next:
            shown.append(MASK)
            hide_next = False
            continue
        assigned = _ASSIGN_RE.match(arg)
        if assigned and (CREDENTIAL_NAME_RE.search(assigned.group(1)) or _FLAG_RE.match(assigned.group(1)[:-1])):
            shown.append(assigned.group(1) + MASK)
            continue
        hide_next = bool(_FLAG_RE.match(arg))
        shown.append(_BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", arg))
    return scrub(" ".join([str(provider.get("path") or ""), *(shlex.quote(a) if " " in a else a for a in shown)]).strip())


def _splits(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True
