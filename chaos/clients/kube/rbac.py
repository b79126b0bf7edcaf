"""What a run needs from RBAC, asked with SelfSubjectAccessReview, and the Role that would grant it.

Callers: :meth:`chaos.clients.kube.client.KubeClient.preflight_access` (checks run concurrently
in worker threads), the run's pre-flight (:func:`policy_permissions`), ``aftershock rbac``
(:func:`experiment_permissions` rendered by :func:`rbac_manifests` as Role + RoleBinding YAML) and
``aftershock compile --in-cluster`` (:func:`chaos.gameday.incluster.rbac_rules`: the same
:func:`experiment_permissions`, grouped by :func:`role_rules`). :func:`role_yaml` renders exactly
the missing rules as a ready-to-apply ``Role`` per namespace, which becomes the details of
:class:`PermissionMissing`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from chaos.actions.circuit_break import CircuitBreakPolicy
from chaos.actions.degrade import DegradePolicy
from chaos.clients.kube.context import CHAOS_GROUP, POD_CHAOS_KINDS, KubeContext
from chaos.clients.kube.reaper import REAPER_NAME
from chaos.compiling.kubernetes import compile_experiment
from chaos.model.experiment import Experiment

ROLE_NAME = "aftershock-runner"
CHAOS_VERBS = ("create", "delete", "get", "list", "patch")


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource in one namespace (``group`` "" is the core API); ``name`` restricts it
    to one object (a Role's ``resourceNames``): every patch outside chaos-mesh.org names its object."""

    namespace: str
    group: str
    resource: str
    verb: str
    name: str = ""

    def describe(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name:
            res += f"/{self.name}"
        return f"{self.verb} {res} in {self.namespace}"


def degrade_permissions(kind: str, namespace: str, name: str) -> list[Permission]:
    """What ``apply_patch``/``revert`` need for the ``kind`` object ``name`` (ConfigMap, Deployment, ...)."""
    group = "" if kind == "ConfigMap" else "apps"
    resource = kind.lower() + "s"
    return [Permission(namespace, group, resource, v, name) for v in ("get", "patch")]


ROUTE_RESOURCES = {"HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
                   "VirtualService": ("networking.istio.io", "virtualservices")}


def circuit_break_permissions(namespace: str, route_kinds: Iterable[str] = tuple(ROUTE_RESOURCES),
                              routes: Iterable[str] = ()) -> list[Permission]:
    """What ``set_backend_weight``/``restore_weights`` need on the route kinds the cluster serves
    (``route_kinds``, from :func:`chaos.clients.kube.weights.served_route_kinds`): ``list`` to find the
    routes, ``get``/``patch`` on exactly ``routes`` (``with.routes``). Without names the patch is
    unrestricted; ``aftershock rbac`` refuses to print that (:func:`unnamed_patches`)."""
    out = []
    names = sorted(set(routes)) or [""]
    for kind in route_kinds:
        group, resource = ROUTE_RESOURCES[kind]
        out.append(Permission(namespace, group, resource, "list"))
        out += [Permission(namespace, group, resource, v, name) for v in ("get", "patch") for name in names]
    return out


def policy_permissions(exp: Experiment, default_namespace: str,
                       route_kinds: Iterable[str]) -> list[Permission]:
    """What the experiment's recovery policies need: degrade patches and circuit-break weights (on
    the route kinds the cluster serves). Pre-flight and ``aftershock rbac`` both use this."""
    out: list[Permission] = []
    for policy in exp.spec.policies:
        if isinstance(policy, DegradePolicy) and policy.with_.kubernetes is not None:
            patch = policy.with_.kubernetes.patch
            out += degrade_permissions(patch.kind, patch.namespace or default_namespace, patch.name)
        if isinstance(policy, CircuitBreakPolicy):
            out += circuit_break_permissions(policy.with_.namespace or default_namespace, route_kinds,
                                             policy.with_.routes)
    return out


def degrade_objects(exp: Experiment, default_namespace: str) -> list[tuple[str, str, str]]:
    """``(kind, namespace, name)`` of every object the experiment's degrade policies patch (the
    reaper may revert exactly these)."""
    out: list[tuple[str, str, str]] = []
    for policy in exp.spec.policies:
        if isinstance(policy, DegradePolicy) and policy.with_.kubernetes is not None:
            patch = policy.with_.kubernetes.patch
            out.append((patch.kind, patch.namespace or default_namespace, patch.name))
    return out


def route_objects(exp: Experiment, default_namespace: str,
                  route_kinds: Iterable[str] = tuple(ROUTE_RESOURCES)) -> list[tuple[str, str, str]]:
    """``(kind, namespace, name)`` of every route the experiment's circuit-breaks may re-weight
    (``with.routes``, in each of ``route_kinds``): the reaper may restore exactly these."""
    out: list[tuple[str, str, str]] = []
    for policy in exp.spec.policies:
        if isinstance(policy, CircuitBreakPolicy):
            ns = policy.with_.namespace or default_namespace
            out += [(kind, ns, name) for kind in route_kinds for name in sorted(set(policy.with_.routes))]
    return out


def unnamed_patches(perms: Iterable[Permission]) -> list[Permission]:
    """The patch/update permissions outside chaos-mesh.org that name no object (least privilege
    names them all: a circuit-break needs ``with.routes``)."""
    return [p for p in perms if p.verb in ("patch", "update") and p.group != CHAOS_GROUP and not p.name]


def pod_fault_permissions(namespace: str) -> list[Permission]:
    """What ``delete_pod``/``scale_deployment`` need."""
    return [Permission(namespace, "", "pods", "delete"),
            Permission(namespace, "apps", "deployments", "get"),
            Permission(namespace, "apps", "deployments", "patch")]


def required_permissions(namespaces: Iterable[str], chaos_plurals: Iterable[str],
                         reaper: bool = True) -> list[Permission]:
    """The base set of a Chaos Mesh run in every namespace involved: the verbs on the kinds it
    creates, ``list`` on every pod-selecting kind (the collision check reads them), ``get``/``patch``
    of ``podnetworkchaos`` when it creates NetworkChaos (``chaosmesh.clear_pod_network_entries``),
    pods, PDBs and ``get`` of the namespace's reaper CronJob (by name: the run checks the switch is armed; it creates
    no Job, ServiceAccount, Role or RoleBinding — :mod:`chaos.clients.kube.reaper`)."""
    out: set[Permission] = set()
    chaos_plurals = sorted(set(chaos_plurals))
    for ns in namespaces:
        for plural in chaos_plurals:
            out |= {Permission(ns, CHAOS_GROUP, plural, v) for v in CHAOS_VERBS}
        out |= {Permission(ns, CHAOS_GROUP, kind.lower(), "list") for kind in POD_CHAOS_KINDS}
        if "networkchaos" in chaos_plurals:  # a never-injected one's entries are cleared after a forced clean
            out |= {Permission(ns, CHAOS_GROUP, "podnetworkchaos", v) for v in ("get", "patch")}
        out |= {Permission(ns, "", "pods", v) for v in ("get", "list")}
        out.add(Permission(ns, "policy", "poddisruptionbudgets", "list"))
        if reaper:
            out.add(Permission(ns, "batch", "cronjobs", "get", REAPER_NAME))
    return sorted(out)


def experiment_permissions(exp: Experiment, *, reaper: bool = True,
                           route_kinds: Iterable[str] = tuple(ROUTE_RESOURCES),
                           source: str = "") -> list[Permission]:
    """Everything a Kubernetes run of ``exp`` needs, computed offline: :func:`required_permissions`
    in every namespace its compiled Chaos Mesh objects land in, for the kinds they use, plus
    :func:`policy_permissions` (``route_kinds``: those circuit-break may patch; default both).
    ``aftershock rbac`` prints exactly this; ``compile --in-cluster`` grants exactly this."""
    objects = compile_experiment(exp, "rbac0000", source=source)
    namespaces = sorted({o.namespace for o in objects})
    plurals = sorted({o.kind.lower() for o in objects})
    needed = set(required_permissions(namespaces, plurals, reaper=reaper))
    needed |= set(policy_permissions(exp, exp.spec.target.namespace, route_kinds))
    return sorted(needed)


def experiment_namespaces(exp: Experiment, source: str = "") -> list[str]:
    """The namespaces the compiled Chaos Mesh objects of ``exp`` land in (where its reaper must be)."""
    return sorted({o.namespace for o in compile_experiment(exp, "rbac0000", source=source)})


def role_rules(perms: Iterable[Permission]) -> dict[str, list[dict[str, list[str]]]]:
    """Namespace → the ``rules`` of a Role granting exactly ``perms`` (one rule per group/resource,
    sorted), the one grouping behind :func:`role_yaml`, :func:`rbac_manifests` and the in-cluster Roles."""
    by_ns: dict[str, dict[tuple[str, str, str], set[str]]] = {}
    for p in perms:
        by_ns.setdefault(p.namespace, {}).setdefault((p.group, p.resource, p.name), set()).add(p.verb)
    return {ns: [{"apiGroups": [group], "resources": [resource], **({"resourceNames": [name]} if name else {}),
                  "verbs": sorted(verbs)}
                 for (group, resource, name), verbs in sorted(rules.items())]
            for ns, rules in sorted(by_ns.items())}


def allowed(ctx: KubeContext, perm: Permission) -> bool:
    """Ask the API server (SelfSubjectAccessReview) whether the current identity may do ``perm``."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": perm.namespace, "verb": perm.verb,
                                            "group": perm.group, "resource": perm.resource,
                                            **({"name": perm.name} if perm.name else {})}}}
    reply = ctx.caller.call(f"SelfSubjectAccessReview {perm.describe()}",
                            ctx.authz.create_self_subject_access_review, body)
    return bool((reply.body.get("status") or {}).get("allowed"))


def role_yaml(missing: Iterable[Permission], role_name: str = ROLE_NAME) -> str:
    """A multi-document YAML of one Role per namespace granting exactly ``missing``."""
    docs = []
    for ns, rules in role_rules(missing).items():
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role_name, "namespace": ns},
            "rules": rules,
        }
        docs.append(f"# bind it: kubectl -n {ns} create rolebinding {role_name} --role={role_name} "
                    f"--user=<you> (or --serviceaccount=<ns>:<name>)\n"
                    + yaml.safe_dump(role, sort_keys=False, default_flow_style=None))
    return "---\n".join(docs)


def rbac_manifests(needed: Iterable[Permission], service_account: str | None = None,
                   role_name: str = ROLE_NAME) -> str:
    """``kubectl apply``-able YAML: one Role per namespace granting exactly ``needed`` and, for
    ``service_account`` (``NS/NAME``), the RoleBinding of each Role to it."""
    docs: list[dict[str, object]] = []
    for ns, rules in role_rules(needed).items():
        docs.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": role_name, "namespace": ns},
            "rules": rules,
        })
        if service_account is not None:
            sa_ns, sa_name = service_account.split("/", 1)
            docs.append({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": role_name, "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}],
            })
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=None) for d in docs)
