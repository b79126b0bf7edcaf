"""Circuit-break actuator: set one backend's traffic weight on Gateway API ``HTTPRoute`` and Istio
``VirtualService`` routes, and restore the prior weights exactly.

Only the named service's weight changes; other backends keep theirs (both APIs treat weights as
relative, so weight 0 sends that backend no traffic). A weight that was absent before is removed
again on restore. Writes carry the read ``resourceVersion`` (409 → re-read, bounded); restore refuses
to overwrite a weight someone else changed after us. With ``undo=(run, deadline)`` the same patch
writes an ``undo.aftershock.io/<run>.<n>`` annotation on each route it re-weights
(:mod:`chaos.clients.kube.undo_record`: the route's entries as they were before the run's first change
for this service, the weight in force now, and the deadline); later changes of the same run update it,
the restore removes it in its own patch, and the namespace's reaper (:mod:`chaos.clients.kube.reap`)
restores an expired one with :func:`revert_route` even if the machine that ran Aftershock is gone.
Callers: ``target`` (circuit-break policy), the reaper's sweep.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from chaos.clients.kube.context import KubeContext, meta
from chaos.clients.kube.undo_record import UNDO_PREFIX, decode, encode, run_keys, undo_key
from chaos.errors import ActuatorError, ChaosError

MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 3

# kind -> (group, versions to try, plural, spec list key, backend list key)
ROUTE_KINDS: dict[str, tuple[str, tuple[str, ...], str, str, str]] = {
    "HTTPRoute": ("gateway.networking.k8s.io", ("v1", "v1beta1"), "httproutes", "rules", "backendRefs"),
    "VirtualService": ("networking.istio.io", ("v1", "v1beta1"), "virtualservices", "http", "route"),
}


@dataclass(frozen=True)
class WeightChange:
    """One backend entry we re-weighted: ``spec.<list>[rule].<backends>[backend].weight``."""

    kind: str
    namespace: str
    name: str
    version: str
    rule: int
    backend: int
    before: int | None
    after: int
    annotation: str = ""
    """The undo annotation on its route (``undo.aftershock.io/<run>.<n>``), removed by the restore."""


@dataclass(frozen=True)
class WeightSnapshot:
    """The prior weights of every route entry pointing at ``service`` (what restore puts back)."""

    namespace: str
    service: str
    changes: tuple[WeightChange, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeightSnapshot:
        return cls(str(data["namespace"]), str(data["service"]),
                   tuple(WeightChange(**c) for c in data.get("changes") or []))


def _hosts(service: str, namespace: str) -> set[str]:
    return {service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"}


def _targets(kind: str, backend: Mapping[str, Any], service: str, namespace: str) -> bool:
    if kind == "HTTPRoute":
        return (backend.get("name") == service and backend.get("kind", "Service") == "Service"
                and backend.get("group", "") == "" and backend.get("namespace", namespace) == namespace)
    return (backend.get("destination") or {}).get("host") in _hosts(service, namespace)


def _entries(kind: str, route: Mapping[str, Any], service: str,
             namespace: str) -> Iterator[tuple[int, int, dict[str, Any]]]:
    _, _, _, rules_key, backends_key = ROUTE_KINDS[kind]
    for i, rule in enumerate((route.get("spec") or {}).get(rules_key) or []):
        for j, backend in enumerate(rule.get(backends_key) or []):
            if _targets(kind, backend, service, namespace):
                yield i, j, backend


def served_route_kinds(ctx: KubeContext) -> list[str]:
    """Route kinds (``HTTPRoute``, ``VirtualService``) whose API this cluster serves (discovery)."""
    served = []
    for kind, (group, versions, plural, _, _) in ROUTE_KINDS.items():
        for version in versions:
            reply = ctx.caller.call(f"discover {group}/{version}", ctx.custom.get_api_resources,
                                    group, version, accept=(404,))
            if reply.status != 404 and any(isinstance(r, dict) and r.get("name") == plural
                                           for r in reply.body.get("resources") or []):
                served.append(kind)
                break
    return served


def _list_routes(ctx: KubeContext, kind: str, namespace: str) -> tuple[str, list[dict[str, Any]]]:
    """(served version, routes in namespace); ("", []) when the CRD is not installed."""
    group, versions, plural, _, _ = ROUTE_KINDS[kind]
    for version in versions:
        reply = ctx.caller.call(f"list {kind} in {namespace}", ctx.custom.list_namespaced_custom_object,
                                group, version, namespace, plural, accept=(404,))
        if reply.status != 404:
            return version, list(reply.body.get("items") or [])
    return "", []


def _read(ctx: KubeContext, kind: str, version: str, namespace: str, name: str) -> dict[str, Any]:
    group, _, plural, _, _ = ROUTE_KINDS[kind]
    reply = ctx.caller.call(f"read {kind} {namespace}/{name}", ctx.custom.get_namespaced_custom_object,
                            group, version, namespace, plural, name, accept=(404,))
    if reply.status == 404:
        raise ActuatorError(f"{kind} {namespace}/{name} no longer exists")
    return reply.body


def read_route(ctx: KubeContext, kind: str, namespace: str, name: str) -> tuple[str, dict[str, Any]]:
    """(served version, the route) by name, trying the kind's versions in turn (the reaper's read)."""
    if kind not in ROUTE_KINDS:
        raise ActuatorError(f"{kind} is not a route kind; supported: {', '.join(ROUTE_KINDS)}")
    group, versions, plural, _, _ = ROUTE_KINDS[kind]
    for version in versions:
        reply = ctx.caller.call(f"read {kind} {namespace}/{name}", ctx.custom.get_namespaced_custom_object,
                                group, version, namespace, plural, name, accept=(404,))
        if reply.status != 404:
            return version, reply.body
    raise ActuatorError(f"{kind} {namespace}/{name} does not exist")


def _write(ctx: KubeContext, kind: str, version: str, route: Mapping[str, Any],
           annotations: Mapping[str, str | None] | None = None) -> bool:
    """Patch the route's rule list (and ``annotations``; None removes one) with the read
    resourceVersion; False on 409."""
    group, _, plural, rules_key, _ = ROUTE_KINDS[kind]
    m = meta(route)
    body: dict[str, Any] = {"metadata": {"resourceVersion": m.get("resourceVersion")},
                            "spec": {rules_key: (route.get("spec") or {}).get(rules_key)}}
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    reply = ctx.caller.call(f"patch {kind} {m.get('namespace')}/{m.get('name')}",
                            ctx.custom.patch_namespaced_custom_object, group, version,
                            m.get("namespace"), plural, m.get("name"), body, accept=(409,),
                            _content_type=MERGE_PATCH)
    return reply.status != 409


def _undo_entry(route: Mapping[str, Any], run_id: str, service: str,
                changes: list[WeightChange]) -> tuple[str, str | None, list[WeightChange]]:
    """(annotation key, its value now or None, the entries it must hold) for this change: an earlier
    record of the run for ``service`` on this route keeps its ``before`` weights (what the route held
    before the run's first change) with ``after`` = the weight set now; else a new key."""
    annotations = meta(route).get("annotations") or {}
    for key in run_keys(route, run_id):
        try:
            _, token = decode(annotations[key])
            earlier = WeightSnapshot.from_dict(token)
        except (ValueError, KeyError, TypeError):
            continue
        if earlier.service != service:
            continue
        first = {(c.rule, c.backend): c.before for c in earlier.changes}
        now = {(c.rule, c.backend) for c in changes}
        merged = [replace(c, before=first.get((c.rule, c.backend), c.before), annotation=key) for c in changes]
        merged += [c for c in earlier.changes if (c.rule, c.backend) not in now]
        return key, annotations[key], merged
    key = undo_key(route, run_id)
    return key, None, [replace(c, annotation=key) for c in changes]


def _set_on_route(ctx: KubeContext, kind: str, version: str, route: dict[str, Any], service: str,
                  namespace: str, weight: int,
                  undo: tuple[str, str] | None) -> tuple[list[WeightChange], tuple[str, str | None] | None]:
    """The entries changed and, with ``undo``, (annotation key, its value before this patch)."""
    name = str(meta(route).get("name"))
    for _ in range(CONFLICT_RETRIES):
        route = copy.deepcopy(route)
        changes = []
        for i, j, backend in _entries(kind, route, service, namespace):
            changes.append(WeightChange(kind, namespace, name, version, i, j, backend.get("weight"), weight))
            backend["weight"] = weight
        if not changes:
            return changes, None
        annotations: dict[str, str | None] = {}
        prior = None
        if undo is not None:
            key, value, record = _undo_entry(route, undo[0], service, changes)
            annotations[key] = encode(undo[1], WeightSnapshot(namespace, service, tuple(record)).as_dict())
            changes = [replace(c, annotation=key) for c in changes]
            prior = (key, value)
        if _write(ctx, kind, version, route, annotations):
            return changes, prior
        route = _read(ctx, kind, version, namespace, name)
    raise ActuatorError(f"{kind} {namespace}/{name}: resourceVersion conflict {CONFLICT_RETRIES} "
                        "times in a row; it is being changed concurrently")


def set_backend_weight(ctx: KubeContext, namespace: str, service: str, weight: int,
                       undo: tuple[str, str] | None = None) -> WeightSnapshot:
    """Set ``service``'s weight in every HTTPRoute/VirtualService of ``namespace`` routing to it.
    ``undo``: ``(run id, deadline)``: each route's patch also writes (or updates) its undo annotation."""
    if weight < 0:
        raise ActuatorError(f"circuit-break weight must be >= 0, got {weight}")
    done: list[WeightChange] = []
    priors: dict[tuple[str, str], tuple[str, str | None]] = {}
    found_kinds = []
    try:
        for kind in ROUTE_KINDS:
            version, routes = _list_routes(ctx, kind, namespace)
            if version:
                found_kinds.append(kind)
            for route in routes:
                if any(True for _ in _entries(kind, route, service, namespace)):
                    changes, prior = _set_on_route(ctx, kind, version, route, service, namespace, weight, undo)
                    done += changes
                    if prior is not None:
                        priors[(kind, str(meta(route).get("name")))] = prior
    except ChaosError as exc:
        if done:  # leave nothing half-open; each route's undo annotation as it was before
            try:
                _restore_all(ctx, WeightSnapshot(namespace, service, tuple(done)),
                             lambda kind, name: dict([priors[(kind, name)]]) if (kind, name) in priors else {})
            except ChaosError as undone:
                raise ActuatorError(f"circuit-break of {namespace}/{service} failed ({exc}) and "
                                    f"undoing the routes already changed failed too: {undone}") from exc
        raise
    if not done:
        installed = ", ".join(found_kinds) or "neither HTTPRoute nor VirtualService CRDs are installed"
        raise ActuatorError(f"circuit-break: no HTTPRoute (spec.rules[].backendRefs) or VirtualService "
                            f"(spec.http[].route[].destination.host) in namespace {namespace} routes "
                            f"to service {service!r} (installed: {installed}); the service must be "
                            "reached through one of them to be circuit-broken")
    return WeightSnapshot(namespace, service, tuple(done))


def restore_weights(ctx: KubeContext, snapshot: WeightSnapshot) -> None:
    """Put every ``before`` weight back (absent → removed) and remove the routes' undo annotations in
    the same patches; all problems reported together."""
    _restore_all(ctx, snapshot, lambda kind, name: {})


def revert_route(ctx: KubeContext, kind: str, namespace: str, name: str, key: str,
                 snapshot: WeightSnapshot) -> None:
    """The reaper's undo: restore the entries of ``snapshot`` (the record of annotation ``key``) on the
    route ``kind`` ``namespace/name`` and remove ``key``, refusing when a weight was changed since."""
    if not snapshot.changes or any((c.kind, c.namespace, c.name) != (kind, namespace, name)
                                   for c in snapshot.changes) or snapshot.namespace != namespace:
        raise ActuatorError(f"undo record {key} names other routes than {kind} {namespace}/{name}")
    version, _ = read_route(ctx, kind, namespace, name)
    _restore_route(ctx, kind, version, namespace, name, snapshot.service,
                   [replace(c, annotation=key) for c in snapshot.changes], {})


def _restore_all(ctx: KubeContext, snapshot: WeightSnapshot,
                 annotations: Callable[[str, str], dict[str, str | None]]) -> None:
    by_route: dict[tuple[str, str, str, str], list[WeightChange]] = {}
    for c in snapshot.changes:
        by_route.setdefault((c.kind, c.version, c.namespace, c.name), []).append(c)
    problems = []
    for (kind, version, namespace, name), changes in by_route.items():
        try:
            _restore_route(ctx, kind, version, namespace, name, snapshot.service, changes,
                           annotations(kind, name))
        except ChaosError as exc:
            problems.append(str(exc))
    if problems:
        raise ActuatorError(f"restoring the weights of {snapshot.namespace}/{snapshot.service} failed: "
                            + "; ".join(problems))


def _restore_route(ctx: KubeContext, kind: str, version: str, namespace: str, name: str, service: str,
                   changes: list[WeightChange], annotations: Mapping[str, str | None]) -> None:
    """Restore ``changes`` on one route; its undo annotations are set to ``annotations`` when given
    (a failed step's rollback puts the earlier record back), else removed."""
    _, _, _, rules_key, backends_key = ROUTE_KINDS[kind]
    notes = dict(annotations) or {c.annotation: None for c in changes if c.annotation.startswith(UNDO_PREFIX)}
    for _ in range(CONFLICT_RETRIES):
        route = _read(ctx, kind, version, namespace, name)
        rules = (route.get("spec") or {}).get(rules_key) or []
        for c in changes:
            try:
                backend = rules[c.rule][backends_key][c.backend]
            except (IndexError, KeyError, TypeError):
                backend = {}
            if not _targets(kind, backend, service, namespace):
                raise ActuatorError(f"{kind} {namespace}/{name}: entry {rules_key}[{c.rule}]."
                                    f"{backends_key}[{c.backend}] no longer routes to {service}; "
                                    f"set its weight back to {c.before!r} by hand")
            if backend.get("weight") != c.after:
                raise ActuatorError(f"{kind} {namespace}/{name}: weight of {service} was changed by "
                                    f"someone else to {backend.get('weight')!r} (we set {c.after}); "
                                    f"not overwriting it; before the run it was {c.before!r}")
            if c.before is None:
                backend.pop("weight", None)
            else:
                backend["weight"] = c.before
        if _write(ctx, kind, version, route, notes):
            return
    raise ActuatorError(f"{kind} {namespace}/{name}: resourceVersion conflict {CONFLICT_RETRIES} times "
                        "in a row while restoring weights")
