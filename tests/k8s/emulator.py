"""A Kubernetes API emulator for the Kubernetes target's tests: ``kmock.KubernetesEmulator`` extended.

kmock supplies the HTTP server, request parsing and recording (``emu[...]`` views for assertions),
API discovery from declared resources, the Status error bodies, the object store with history, and
its DSL for fault injection (``emu[...][:3] << 500``). Its emulator mutates state *before* user
reactions run and treats every PATCH as a dict merge, so this subclass moves state changes into the
fallback handlers (an injected 429/500 then really changes nothing) and adds what the target needs:
label/field selectors, ``dryRun=All``, ``resourceVersion``/uid/generation and optimistic-lock 409s,
merge / strategic-merge / JSON patches, the ``status`` subresource, finalizers with deletionTimestamp,
SelfSubjectAccessReview answered from an allow-list, and a tiny Chaos Mesh controller (finalizer,
status progression driven by reads, optional stuck finalizer).

Callers: ``tests/k8s/conftest.py`` fixtures and the tests in this folder.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import kmock
from kmock._internal import dicts, k8s, references, rendering

CHAOS_GROUP = "chaos-mesh.org"
FINALIZER = "chaos-mesh/records"

# resource key → (kind, namespaced, subresources)
RESOURCES: dict[str, tuple[str, bool, set[str]]] = {
    "v1/pods": ("Pod", True, {"status"}),
    "v1/configmaps": ("ConfigMap", True, set()),
    "v1/serviceaccounts": ("ServiceAccount", True, set()),
    "v1/namespaces": ("Namespace", False, set()),
    "apps/v1/deployments": ("Deployment", True, {"status", "scale"}),
    "apps/v1/statefulsets": ("StatefulSet", True, {"status", "scale"}),
    "apps/v1/daemonsets": ("DaemonSet", True, {"status"}),
    "batch/v1/jobs": ("Job", True, {"status"}),
    "policy/v1/poddisruptionbudgets": ("PodDisruptionBudget", True, {"status"}),
    "rbac.authorization.k8s.io/v1/roles": ("Role", True, set()),
    "rbac.authorization.k8s.io/v1/rolebindings": ("RoleBinding", True, set()),
    "authorization.k8s.io/v1/selfsubjectaccessreviews": ("SelfSubjectAccessReview", False, set()),
}
CHAOS_KINDS = {"networkchaos": "NetworkChaos", "podchaos": "PodChaos", "stresschaos": "StressChaos",
               "httpchaos": "HTTPChaos", "iochaos": "IOChaos"}
ROUTES = {
    "gateway.networking.k8s.io/v1/httproutes": ("HTTPRoute", True, set()),
    "networking.istio.io/v1/virtualservices": ("VirtualService", True, set()),
}
KIND_TO_RESOURCE = {kind: key for key, (kind, _, _) in {**RESOURCES, **ROUTES}.items()} | {
    kind: f"{CHAOS_GROUP}/v1alpha1/{plural}" for plural, kind in CHAOS_KINDS.items()}


def conflict(message: str, reason: str = "Conflict") -> k8s.KubernetesError:
    return k8s.KubernetesError(status=409, reason=reason, message=message, details={})


def not_found(what: str) -> k8s.KubernetesError:
    return k8s.KubernetesError(status=404, reason="NotFound", message=f"{what} not found", details={})


# --- selectors ---------------------------------------------------------------------------------

def _split(selector: str) -> list[str]:
    return [p.strip() for p in re.findall(r"[^,(]+(?:\([^)]*\))?", selector) if p.strip()]


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    for part in _split(selector):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", part):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and labels.get(key) in values:
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in part:
            key, value = re.split(r"==?", part, maxsplit=1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif part not in labels:
            return False
    return True


def field_selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    for part in _split(selector):
        negate = "!=" in part
        path, value = re.split(r"!=|==?", part, maxsplit=1)
        current: Any = obj
        for step in path.strip().split("."):
            current = current.get(step) if isinstance(current, Mapping) else None
        if (str(current) if current is not None else "") == value.strip():
            if negate:
                return False
        elif not negate:
            return False
    return True


# --- patches -----------------------------------------------------------------------------------

def strategic_merge(value: Any, patch: Any) -> Any:
    """Strategic merge patch, enough for our use: maps merge, lists of named items merge by name."""
    if isinstance(patch, Mapping) and isinstance(value, Mapping):
        out = dict(value)
        for key, p in patch.items():
            if p is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge(value.get(key), p)
        return out
    if (isinstance(patch, list) and isinstance(value, list)
            and all(isinstance(i, Mapping) and "name" in i for i in [*patch, *value])):
        out_list = [dict(i) for i in value]
        for item in patch:
            idx = next((n for n, cur in enumerate(out_list) if cur["name"] == item["name"]), None)
            if item.get("$patch") == "delete":
                if idx is not None:
                    del out_list[idx]
            elif idx is None:
                out_list.append(dict(item))
            else:
                out_list[idx] = strategic_merge(out_list[idx], item)
        return out_list
    return copy.deepcopy(patch)


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """A small but honest API server: see the module docstring for what it does."""

    permissions: set[tuple[str, str, str, str]] | None = None
    """SelfSubjectAccessReview allow-list of (namespace, group, resource, verb); "*" matches any;
    None allows everything."""
    inject_after_reads: int | None = 2
    """Chaos Mesh simulation: reads of a chaos object until it reports AllInjected (None: never)."""
    stuck_finalizer: bool = False
    """Chaos Mesh simulation: the controller never removes the ``chaos-mesh/records`` finalizer."""
    _rv: Any = attrs.field(factory=lambda: itertools.count(100), init=False)
    _reads: dict[Any, int] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, (kind, namespaced, subresources) in RESOURCES.items():
            self.declare(key, kind, namespaced, subresources)

    def declare(self, key: str, kind: str, namespaced: bool = True,
                subresources: Iterable[str] = ()) -> None:
        self.resources[key] = kmock.ResourceInfo(
            kind=kind, singular=kind.lower(), namespaced=namespaced, subresources=set(subresources),
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"})

    def install_chaos_mesh(self) -> None:
        for plural, kind in CHAOS_KINDS.items():
            self.declare(f"{CHAOS_GROUP}/v1alpha1/{plural}", kind, True, {"status"})

    def install_routes(self, which: Iterable[str] = ("HTTPRoute", "VirtualService")) -> None:
        for key, (kind, namespaced, subs) in ROUTES.items():
            if kind in which:
                self.declare(key, kind, namespaced, subs)

    # --- direct access for tests ---------------------------------------------------------------

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as if created through the API (server fields filled)."""
        obj = copy.deepcopy(dict(obj))
        resource = references.resource(KIND_TO_RESOURCE[obj["kind"]])
        meta = obj.setdefault("metadata", {})
        self._stamp(obj)
        self._store(resource, meta.get("namespace"), meta["name"], obj)
        return obj

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (references.resource(KIND_TO_RESOURCE[kind]), namespace, name)
        return self._current(key)

    # --- internals -----------------------------------------------------------------------------

    def _stamp(self, obj: dict[str, Any]) -> None:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._rv))

    def _current(self, key: Any) -> dict[str, Any] | None:
        if key not in self._objects._objects or self._objects._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects._objects[key].raw)

    def _store(self, resource: Any, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        key = (resource, namespace, name)
        if key in self._objects._objects:
            self._objects._objects[key].history.append(copy.deepcopy(obj))
        else:
            self._objects[resource, namespace, name] = copy.deepcopy(obj)

    def _remove(self, resource: Any, namespace: str | None, name: str) -> None:
        self._objects._objects[resource, namespace, name].delete()
        self._reads.pop((resource, namespace, name), None)

    @staticmethod
    def _dry(request: rendering.Request) -> bool:
        return request.params.get("dryRun") == "All"

    async def _handle(self, request: rendering.Request) -> Any:
        # Skip KubernetesEmulator._handle: its state changes would happen even for injected errors.
        return await super(kmock.KubernetesEmulator, self)._handle(request)

    def _known(self, request: rendering.Request) -> None:
        if not any(res == request.resource for res in self._get_resources()):
            raise k8s.KubernetesResourceNotFoundError()

    async def _serve_create(self, request: rendering.Request) -> Any:
        self._known(request)
        assert request.resource is not None
        if request.resource.plural == "selfsubjectaccessreviews":
            return self._review(request.data)
        obj = copy.deepcopy(request.data)
        meta = obj.setdefault("metadata", {})
        namespace = request.namespace or meta.get("namespace")
        meta["namespace"] = namespace
        key = (request.resource, namespace, meta.get("name"))
        async with self._lock:
            if self._current(key) is not None:
                raise conflict(f'{request.resource.plural} "{meta.get("name")}" already exists',
                               "AlreadyExists")
            self._stamp(obj)
            if request.resource.group == CHAOS_GROUP:
                obj.pop("status", None)  # status is a subresource: create ignores it
                meta.setdefault("finalizers", []).append(FINALIZER)
            if not self._dry(request):
                self._store(request.resource, namespace, meta["name"], obj)
        return obj

    async def _serve_fetch(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            obj = self._current(key)
            if obj is None:
                raise not_found(f"{request.resource.plural if request.resource else '?'} {request.name}")
            if request.resource is not None and request.resource.group == CHAOS_GROUP:
                obj = self._progress(key, obj)
        return obj

    def _progress(self, key: Any, obj: dict[str, Any]) -> dict[str, Any]:
        """The simulated chaos-controller-manager: status advances with every read."""
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        reads = self._reads[key] = self._reads.get(key, 0) + 1
        injected = self.inject_after_reads is not None and reads >= self.inject_after_reads
        ids = self._selected(obj)
        phase = "Injected" if injected else "Not Injected"
        events = [] if injected or self.inject_after_reads is not None else [
            {"type": "Failed", "operation": "Apply", "message": "simulated: chaos-daemon unreachable"}]
        obj["status"] = {
            "conditions": [{"type": "Selected", "status": "True" if ids else "False"},
                           {"type": "AllInjected", "status": "True" if injected else "False"},
                           {"type": "AllRecovered", "status": "False"},
                           {"type": "Paused", "status": "False"}],
            "experiment": {"desiredPhase": "Run",
                           "containerRecords": [{"id": i, "phase": phase, "selectorKey": ".",
                                                 "events": events} for i in ids]},
        }
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self._store(key[0], key[1], key[2], obj)
        return obj

    def _selected(self, obj: Mapping[str, Any]) -> list[str]:
        sel = (obj.get("spec") or {}).get("selector") or {}
        namespaces = sel.get("namespaces") or [obj["metadata"]["namespace"]]
        labels = sel.get("labelSelectors") or {}
        out = []
        pods = references.resource("v1/pods")
        for (res, ns, name), stored in self._objects._objects.items():
            if res == pods and ns in namespaces and not stored.deleted:
                pod_labels = (stored.raw.get("metadata") or {}).get("labels") or {}
                if all(pod_labels.get(k) == v for k, v in labels.items()):
                    out.append(f"{ns}/{name}")
        return sorted(out)

    async def _serve_list(self, request: rendering.Request) -> Any:
        self._known(request)
        labels = request.params.get("labelSelector", "")
        fields = request.params.get("fieldSelector", "")
        items = []
        async with self._lock:
            for (res, ns, _), stored in self._objects._objects.items():
                if res != request.resource or stored.deleted:
                    continue
                if request.namespace is not None and ns != request.namespace:
                    continue
                obj = copy.deepcopy(stored.raw)
                if labels and not label_selector_matches(labels, obj["metadata"].get("labels") or {}):
                    continue
                if fields and not field_selector_matches(fields, obj):
                    continue
                items.append(obj)
        return {"apiVersion": "v1", "kind": "List", "items": items,
                "metadata": {"resourceVersion": str(next(self._rv))}}

    async def _serve_update(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        content_type = request.headers.get("Content-Type", "")
        async with self._lock:
            obj = self._current(key)
            if obj is None:
                raise not_found(f"{request.resource.plural if request.resource else '?'} {request.name}")
            patch = copy.deepcopy(request.data)
            if isinstance(patch, Mapping):
                wanted_rv = (patch.get("metadata") or {}).pop("resourceVersion", None)
                if wanted_rv is not None and wanted_rv != obj["metadata"]["resourceVersion"]:
                    raise conflict("the object has been modified; please apply your changes to the "
                                   "latest version and try again")
            if request.subresource == "status":
                patch = {"status": (patch or {}).get("status")}
            if "json-patch" in content_type:
                new = dict(dicts.json_patch_dict(obj, patch))
            elif "strategic-merge-patch" in content_type:
                if request.resource is not None and request.resource.group == CHAOS_GROUP:
                    raise k8s.KubernetesError(status=415, reason="UnsupportedMediaType",
                                              message="strategic merge patch is not supported for CRDs")
                new = strategic_merge(obj, patch)
            else:
                new = dict(dicts.merge_patch_dict(obj, patch))
            if new.get("spec") != obj.get("spec"):
                new["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            new["metadata"]["resourceVersion"] = str(next(self._rv))
            if self._dry(request):
                return new
            assert request.resource is not None and request.name is not None
            self._store(request.resource, request.namespace, request.name, new)
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                self._remove(request.resource, request.namespace, request.name)
        return new

    async def _serve_delete(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            obj = self._current(key)
            if obj is None:
                raise not_found(f"{request.resource.plural if request.resource else '?'} {request.name}")
            if self._dry(request):
                return obj
            assert request.resource is not None and request.name is not None
            meta = obj["metadata"]
            if request.resource.group == CHAOS_GROUP and not self.stuck_finalizer:
                meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
            if meta.get("finalizers"):
                meta.setdefault("deletionTimestamp", _now())
                meta["resourceVersion"] = str(next(self._rv))
                self._store(request.resource, request.namespace, request.name, obj)
            else:
                self._remove(request.resource, request.namespace, request.name)
        return obj

    def _review(self, review: Mapping[str, Any]) -> dict[str, Any]:
        attrs_ = (review.get("spec") or {}).get("resourceAttributes") or {}
        want = (attrs_.get("namespace", ""), attrs_.get("group", ""), attrs_.get("resource", ""),
                attrs_.get("verb", ""))
        ok = self.permissions is None or any(
            all(p == "*" or p == w for p, w in zip(perm, want, strict=True)) for perm in self.permissions)
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": review.get("spec"), "status": {"allowed": ok, "reason": "" if ok else "emulated RBAC"}}


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
