"""What a run needs from RBAC, asked with SelfSubjectAccessReview, and the Role that would grant it.

Callers: :meth:`chaos.clients.kube.target.KubernetesTarget.preflight_access` (checks run concurrently
in worker threads) and ``aftershock doctor``. :func:`role_yaml` renders exactly the missing rules as a
ready-to-apply ``Role`` per namespace, which becomes the details of :class:`PermissionMissing`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from chaos.clients.kube.context import CHAOS_GROUP, KubeContext

ROLE_NAME = "aftershock-runner"
CHAOS_VERBS = ("create", "delete", "get", "list", "patch")


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource in one namespace (``group`` "" is the core API)."""

    namespace: str
    group: str
    resource: str
    verb: str

    def describe(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {res} in {self.namespace}"


def degrade_permissions(kind: str, namespace: str) -> list[Permission]:
    """What ``apply_patch``/``revert`` need for ``kind`` (ConfigMap, Deployment, StatefulSet, ...)."""
    group = "" if kind == "ConfigMap" else "apps"
    resource = kind.lower() + "s"
    return [Permission(namespace, group, resource, v) for v in ("get", "patch")]


def circuit_break_permissions(namespace: str) -> list[Permission]:
    """What ``set_backend_weight``/``restore_weights`` need (both route flavours)."""
    out = []
    for group, resource in (("gateway.networking.k8s.io", "httproutes"),
                            ("networking.istio.io", "virtualservices")):
        out += [Permission(namespace, group, resource, v) for v in ("get", "list", "patch")]
    return out


def pod_fault_permissions(namespace: str) -> list[Permission]:
    """What ``delete_pod``/``scale_deployment`` need."""
    return [Permission(namespace, "", "pods", "delete"),
            Permission(namespace, "apps", "deployments", "get"),
            Permission(namespace, "apps", "deployments", "patch")]


def required_permissions(namespaces: Iterable[str], chaos_plurals: Iterable[str],
                         reaper: bool = True) -> list[Permission]:
    """The base set of a Chaos Mesh run in every namespace involved."""
    out: set[Permission] = set()
    for ns in namespaces:
        for plural in chaos_plurals:
            out |= {Permission(ns, CHAOS_GROUP, plural, v) for v in CHAOS_VERBS}
        out |= {Permission(ns, "", "pods", v) for v in ("get", "list")}
        out.add(Permission(ns, "policy", "poddisruptionbudgets", "list"))
        if reaper:
            out |= {Permission(ns, "batch", "jobs", v) for v in ("create", "delete", "list", "patch")}
            for group, resource in (("", "serviceaccounts"), ("rbac.authorization.k8s.io", "roles"),
                                    ("rbac.authorization.k8s.io", "rolebindings")):
                out |= {Permission(ns, group, resource, v) for v in ("create", "delete", "list")}
    return sorted(out)


def allowed(ctx: KubeContext, perm: Permission) -> bool:
    """Ask the API server (SelfSubjectAccessReview) whether the current identity may do ``perm``."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": perm.namespace, "verb": perm.verb,
                                            "group": perm.group, "resource": perm.resource}}}
    reply = ctx.caller.call(f"SelfSubjectAccessReview {perm.describe()}",
                            ctx.authz.create_self_subject_access_review, body)
    return bool((reply.body.get("status") or {}).get("allowed"))


def role_yaml(missing: Iterable[Permission], role_name: str = ROLE_NAME) -> str:
    """A multi-document YAML of one Role per namespace granting exactly ``missing``."""
    by_ns: dict[str, dict[tuple[str, str], set[str]]] = {}
    for p in missing:
        by_ns.setdefault(p.namespace, {}).setdefault((p.group, p.resource), set()).add(p.verb)
    docs = []
    for ns, rules in sorted(by_ns.items()):
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role_name, "namespace": ns},
            "rules": [{"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
                      for (group, resource), verbs in sorted(rules.items())],
        }
        docs.append(f"# bind it: kubectl -n {ns} create rolebinding {role_name} --role={role_name} "
                    f"--user=<you> (or --serviceaccount=<ns>:<name>)\n"
                    + yaml.safe_dump(role, sort_keys=False, default_flow_style=None))
    return "---\n".join(docs)
