"""Shared per-target plumbing: the ``ApiClient``, the :class:`~.calls.Caller` and object naming helpers.

Callers: every operation module of :mod:`chaos.clients.kube` (``chaosmesh``, ``blast``, ``rbac``,
``actuators``, ``reaper``); built once per :class:`~chaos.clients.kube.client.KubeClient`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from chaos.clients.kube.calls import Caller
from chaos.clients.kube.settings import KubeSettings
from chaos.errors import TargetError

CHAOS_GROUP = "chaos-mesh.org"
CHAOS_VERSION = "v1alpha1"
CHAOS_API_VERSION = f"{CHAOS_GROUP}/{CHAOS_VERSION}"
DEFAULT_CHAOS_KINDS = ("NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos")
POD_CHAOS_KINDS = ("NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos", "IOChaos", "TimeChaos",
                   "DNSChaos", "KernelChaos", "JVMChaos", "BlockChaos")
"""Chaos Mesh kinds that select pods: what the collision check lists (not PodNetworkChaos and the
other per-pod records Chaos Mesh keeps for itself, nor Schedules/Workflows)."""
FINALIZER = "chaos-mesh/records"
CLEAN_FINALIZER_ANNOTATION = "chaos-mesh.chaos-mesh.org/cleanFinalizer"
"""Chaos Mesh's own switch (``controllers/common/finalizers``): on a deleted object annotated
``forced`` its controller drops :data:`FINALIZER` without recovering any record."""
CLEAN_FINALIZER_FORCED = "forced"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "aftershock"
RUN_LABEL = "aftershock.io/run-id"
EXPERIMENT_LABEL = "aftershock.io/experiment"
DEADLINE_ANNOTATION = "aftershock.io/deadline"


@dataclass
class KubeContext:
    """One cluster connection: settings, client, caller, and the discovered chaos kind → plural map."""

    settings: KubeSettings
    api: client.ApiClient
    caller: Caller
    plurals: dict[str, str] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def policy(self) -> client.PolicyV1Api:
        return client.PolicyV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api)

    @property
    def authz(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.api)

    def plural(self, kind: str) -> str:
        """The resource plural of a chaos kind (discovered, else Chaos Mesh's lower-case convention)."""
        return self.plurals.get(kind) or kind.lower()


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def ref(obj: Mapping[str, Any]) -> str:
    """``NetworkChaos shop/name`` — how objects are named in messages."""
    m = meta(obj)
    return f"{obj.get('kind', '?')} {m.get('namespace', '?')}/{m.get('name', '?')}"


def identity(obj: Mapping[str, Any], default_namespace: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of a compiled object; raises TargetError when it is malformed."""
    m = meta(obj)
    kind, name = obj.get("kind"), m.get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        raise TargetError(f"not a Kubernetes object (kind/metadata.name missing): {dict(obj)!r:.200}")
    namespace = m.get("namespace") or default_namespace
    return kind, str(namespace), name


def is_ours(obj: Mapping[str, Any], run_id: str | None = None) -> bool:
    labels = meta(obj).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER:
        return False
    return run_id is None or labels.get(RUN_LABEL) == run_id
