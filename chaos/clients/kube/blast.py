"""Pre-flight on live pods: resolve a chaos object's selector, blast radius, PDBs, collisions.

Synchronous; :class:`chaos.clients.kube.client.KubeClient` runs these in a worker thread before
anything is injected. Everything wrong is collected and raised at once as :class:`PreflightRefused`.
Callers: ``target`` only. Pure counting rules live in :mod:`chaos.clients.kube.selectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.clients.kube import chaosmesh
from chaos.clients.kube.context import POD_CHAOS_KINDS, RUN_LABEL, KubeContext, identity, is_ours, meta, ref
from chaos.clients.kube.selectors import (
    affected_count,
    disruptions_allowed,
    field_selector_string,
    label_selector_string,
    labels_match,
)
from chaos.errors import PermissionMissing, PreflightRefused

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "chaos-mesh"})
DISRUPTIVE_POD_ACTIONS = frozenset({"pod-kill", "pod-failure", "container-kill"})


@dataclass(frozen=True)
class Resolution:
    """Concrete pods a chaos object reaches, and how many of them it affects at most."""

    object: str
    """``Kind ns/name`` of the chaos object."""
    namespaces: list[str]
    """Every namespace the selectors reach (``spec.selector`` and NetworkChaos ``spec.target``)."""
    matching: list[str]
    """``ns/pod`` of the Running pods ``spec.selector`` matches."""
    affected: int
    """Upper bound of pods affected, from ``mode``/``value``."""
    peers: list[str] = field(default_factory=list)
    """``ns/pod`` matched by NetworkChaos ``spec.target`` (the peer side)."""
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def percent(self) -> float:
        return 100.0 * self.affected / len(self.matching) if self.matching else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"object": self.object, "namespaces": list(self.namespaces),
                "matching": list(self.matching), "affected": self.affected,
                "percent": round(self.percent, 2), "peers": list(self.peers)}


class PodCache:
    """Memoised pod lists per (namespace, labelSelector, fieldSelector) for one pre-flight."""

    def __init__(self, ctx: KubeContext) -> None:
        self.ctx = ctx
        self._lists: dict[tuple[str, str, str], list[dict[str, Any]]] = {}

    def list(self, namespace: str, labels: str = "", fields: str = "") -> list[dict[str, Any]]:
        key = (namespace, labels, fields)
        if key not in self._lists:
            reply = self.ctx.caller.call(f"list pods in {namespace}", self.ctx.core.list_namespaced_pod,
                                         namespace, label_selector=labels or None,
                                         field_selector=fields or None)
            self._lists[key] = list(reply.body.get("items") or [])
        return self._lists[key]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        reply = self.ctx.caller.call(f"read pod {namespace}/{name}", self.ctx.core.read_namespaced_pod,
                                     name, namespace, accept=(404,))
        return None if reply.status == 404 else reply.body


def _pod_key(pod: Mapping[str, Any]) -> str:
    m = meta(pod)
    return f"{m.get('namespace')}/{m.get('name')}"


def selector_namespaces(selector: Mapping[str, Any], default_namespace: str) -> list[str]:
    pods = selector.get("pods") or {}
    if pods:
        return sorted(pods)
    return list(selector.get("namespaces") or [default_namespace])


def select_pods(cache: PodCache, selector: Mapping[str, Any], default_namespace: str) -> list[dict[str, Any]]:
    """Pods a Chaos Mesh ``PodSelectorSpec`` selects now (phases default to Running)."""
    phases = set(selector.get("podPhaseSelectors") or ["Running"])
    annotations = selector.get("annotationSelectors") or {}
    candidates: list[dict[str, Any]] = []
    by_name: Mapping[str, list[str]] = selector.get("pods") or {}
    if by_name:
        for ns, names in by_name.items():
            for name in names:
                pod = cache.get(ns, name)
                if pod is not None:
                    candidates.append(pod)
    else:
        labels = label_selector_string(selector.get("labelSelectors"), selector.get("expressionSelectors"))
        fields = field_selector_string(selector.get("fieldSelectors"))
        for ns in selector_namespaces(selector, default_namespace):
            candidates.extend(cache.list(ns, labels, fields))
    out = []
    for pod in candidates:
        pod_annotations = meta(pod).get("annotations") or {}
        if meta(pod).get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") not in phases and "All" not in phases:
            continue
        if any(pod_annotations.get(k) != v for k, v in annotations.items()):
            continue
        out.append(pod)
    return sorted(out, key=_pod_key)


def resolve(ctx: KubeContext, obj: Mapping[str, Any], cache: PodCache | None = None) -> Resolution:
    """Resolve ``spec.selector`` (and NetworkChaos ``spec.target``) to pods and count the affected."""
    cache = cache or PodCache(ctx)
    _, namespace, _ = identity(obj, ctx.settings.namespace)
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    pods = select_pods(cache, selector, namespace)
    namespaces = set(selector_namespaces(selector, namespace))
    peers: list[str] = []
    target = spec.get("target")
    if obj.get("kind") == "NetworkChaos" and isinstance(target, dict) and target.get("selector"):
        namespaces |= set(selector_namespaces(target["selector"], namespace))
        peers = [_pod_key(p) for p in select_pods(cache, target["selector"], namespace)]
    matching = [_pod_key(p) for p in pods]
    affected = affected_count(str(spec.get("mode", "one")), spec.get("value"), len(matching))
    return Resolution(ref(obj), sorted(namespaces), matching, affected, peers,
                      {_pod_key(p): dict(meta(p).get("labels") or {}) for p in pods})


def _healthy(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or meta(pod).get("deletionTimestamp"):
        return False
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return not ready or ready[0].get("status") == "True"


def pdb_problems(ctx: KubeContext, cache: PodCache, res: Resolution, action: str) -> list[str]:
    """PodDisruptionBudgets that ``res.affected`` disruptions of the matching pods would violate."""
    problems: list[str] = []
    for ns in sorted({key.split("/", 1)[0] for key in res.matching}):
        reply = ctx.caller.call(f"list PodDisruptionBudgets in {ns}",
                                ctx.policy.list_namespaced_pod_disruption_budget, ns)
        all_pods = cache.list(ns)
        for pdb in reply.body.get("items") or []:
            selector = (pdb.get("spec") or {}).get("selector")
            covered = [k for k in res.matching if k.startswith(f"{ns}/")
                       and labels_match(selector, res.pod_labels.get(k, {}))]
            if not covered:
                continue
            healthy = sum(1 for p in all_pods if _healthy(p)
                          and labels_match(selector, meta(p).get("labels") or {}))
            allowed = disruptions_allowed(pdb, healthy)
            worst = min(res.affected, len(covered))
            if worst > allowed:
                problems.append(f"PodDisruptionBudget {ns}/{meta(pdb).get('name')} allows {allowed} "
                                f"disruption(s) now, but {action} may disrupt {worst} of its pods "
                                f"({', '.join(covered)})")
    return problems


def check_blast_radius(ctx: KubeContext, obj: Mapping[str, Any], max_targets: int | None = None,
                       max_percent: float | None = None, allowed_namespaces: Iterable[str] | None = None,
                       allow_system_namespaces: bool = False) -> Resolution:
    """Refuse (PreflightRefused, all reasons at once) when the object reaches too far."""
    cache = PodCache(ctx)
    problems: list[str] = []
    _, namespace, _ = identity(obj, ctx.settings.namespace)
    spec = obj.get("spec") or {}
    reached = set(selector_namespaces(spec.get("selector") or {}, namespace))
    target = spec.get("target")
    if isinstance(target, dict) and target.get("selector"):
        reached |= set(selector_namespaces(target["selector"], namespace))
    if allowed_namespaces is not None:
        allowed = set(allowed_namespaces)
        for ns in sorted(reached - allowed):
            problems.append(f"namespace {ns!r} is outside blastRadius.namespaces {sorted(allowed)}")
    if not allow_system_namespaces:
        for ns in sorted(reached & SYSTEM_NAMESPACES):
            problems.append(f"namespace {ns!r} is a system namespace; set allowSystemNamespaces: true")
    if problems:  # do not even list pods in namespaces we may not touch
        raise PreflightRefused(f"blast radius of {ref(obj)} refused", problems)
    res = resolve(ctx, obj, cache)
    if not res.matching:
        problems.append(f"the selector matches no Running pods in {', '.join(res.namespaces)}; "
                        "nothing would be injected")
    if max_targets is not None and res.affected > max_targets:
        problems.append(f"{res.affected} pods would be affected (mode {spec.get('mode', 'one')}"
                        f"{' ' + str(spec.get('value')) if spec.get('value') else ''} of "
                        f"{len(res.matching)} matching), more than maxTargets {max_targets}")
    if max_percent is not None and res.matching and res.percent > max_percent:
        problems.append(f"{res.percent:.0f}% of the matching pods ({res.affected}/{len(res.matching)}) "
                        f"would be affected, more than maxPercent {max_percent:g}")
    action = str(spec.get("action", ""))
    if obj.get("kind") == "PodChaos" and action in DISRUPTIVE_POD_ACTIONS and res.matching:
        problems.extend(pdb_problems(ctx, cache, res, action))
    if problems:
        raise PreflightRefused(f"blast radius of {ref(obj)} refused", problems)
    return res


@dataclass(frozen=True)
class NamespaceTotal:
    """Blast radius of a whole run in one namespace: every fault's pods added up."""

    namespace: str
    affected: int
    """Upper bound of distinct pods the run's faults affect there (the sum, capped by the pods matched)."""
    matching: int
    """Distinct Running pods any fault of the run matches there."""

    @property
    def percent(self) -> float:
        return 100.0 * self.affected / self.matching if self.matching else 0.0

    def describe(self) -> str:
        return (f"namespace {self.namespace}: up to {self.affected} of {self.matching} matching pod(s) "
                f"({self.percent:.0f}%) over the run")


def run_totals(resolutions: Iterable[Resolution], max_targets: int | None = None,
               max_percent: float | None = None) -> list[NamespaceTotal]:
    """Sum the faults of one run per namespace and refuse (PreflightRefused) above the limits.

    Each fault alone may pass ``maxTargets``/``maxPercent`` while the run as a whole exceeds them:
    the limits bound the run, so they are checked on these sums too.
    """
    summed: dict[str, int] = {}
    pods: dict[str, set[str]] = {}
    for res in resolutions:
        by_ns: dict[str, int] = {}
        for key in res.matching:
            by_ns[key.split("/", 1)[0]] = by_ns.get(key.split("/", 1)[0], 0) + 1
            pods.setdefault(key.split("/", 1)[0], set()).add(key)
        for ns, count in by_ns.items():
            summed[ns] = summed.get(ns, 0) + min(res.affected, count)
    totals = [NamespaceTotal(ns, min(summed[ns], len(pods[ns])), len(pods[ns])) for ns in sorted(summed)]
    problems = []
    for t in totals:
        if max_targets is not None and t.affected > max_targets:
            problems.append(f"the run's faults together may affect {t.affected} pods in {t.namespace}, "
                            f"more than maxTargets {max_targets}")
        if max_percent is not None and t.matching and t.percent > max_percent:
            problems.append(f"the run's faults together may affect {t.percent:.0f}% of the matching pods "
                            f"in {t.namespace} ({t.affected}/{t.matching}), more than maxPercent "
                            f"{max_percent:g}")
    if problems:
        raise PreflightRefused("blast radius of the run refused", problems)
    return totals


def _record_pods(other: Mapping[str, Any]) -> set[str]:
    records = ((other.get("status") or {}).get("experiment") or {}).get("containerRecords") or []
    return {"/".join(str(r.get("id", "")).split("/")[:2]) for r in records if r.get("id")}


def collisions(ctx: KubeContext, obj: Mapping[str, Any], force: bool = False) -> list[str]:
    """Other live chaos objects selecting the same pods: refused, or returned as warnings with force."""
    kind, namespace, name = identity(obj, ctx.settings.namespace)
    cache = PodCache(ctx)
    mine = set(resolve(ctx, obj, cache).matching)
    if not mine:
        return []
    kinds = [k for k in POD_CHAOS_KINDS if not ctx.plurals or k in ctx.plurals]
    try:
        others = chaosmesh.list_chaos(ctx, kinds=kinds)
    except PermissionMissing:  # no cluster-wide list: look where the pods are
        others = chaosmesh.list_chaos(ctx, namespaces=sorted({k.split("/")[0] for k in mine} | {namespace}),
                                      kinds=kinds)
    found: list[str] = []
    for other in others:
        o_kind, o_ns, o_name = identity(other, namespace)
        if (o_kind, o_ns, o_name) == (kind, namespace, name):
            continue
        if ((other.get("status") or {}).get("experiment") or {}).get("desiredPhase") == "Stop":
            continue  # finished or paused: injects nothing
        theirs = _record_pods(other)
        sel = (other.get("spec") or {}).get("selector")
        if isinstance(sel, dict) and sel:
            theirs |= {_pod_key(p) for p in select_pods(cache, sel, o_ns)}
        overlap = sorted(mine & theirs)
        if overlap:
            owner = (f"ours, run {(meta(other).get('labels') or {}).get(RUN_LABEL)}"
                     if is_ours(other) else "not managed by aftershock")
            found.append(f"{ref(other)} ({owner}) already selects {', '.join(overlap)}")
    if found and not force:
        raise PreflightRefused(f"{ref(obj)} would collide with running chaos; wait for it to end, "
                               "remove it, or pass --force", found)
    return found
