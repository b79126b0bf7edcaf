"""Cross-field checks of a parsed experiment: references, duplicate names, static blast radius.

Pydantic checks each field; these check how fields relate (a policy naming an SLO that does
not exist, two faults with one name, a selector reaching ``kube-system``...). Each problem
carries its own field path. Pure; called by ``chaos.loading`` and (:func:`check_policies`, the
problems the policy engine cannot work around) ``chaos.policy.decisions``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from chaos import registry
from chaos.errors import Problem
from chaos.model.experiment import BlastRadius, Experiment
from chaos.model.faults import FaultBase, HttpFault, NetworkFault
from chaos.model.kinds import Reach
from chaos.model.policies import PolicyBase
from chaos.model.slos import Gate, Slo

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def check_experiment(exp: Experiment) -> list[Problem]:
    """Every cross-field problem of ``exp`` (empty when it is consistent)."""
    out: list[Problem] = []
    spec = exp.spec
    out += _duplicates("spec.faults", [f.name for f in spec.faults])
    out += _duplicates("spec.slos", [s.name for s in spec.slos])
    out += _duplicates("spec.policies", [p.name for p in spec.policies])
    slo_names = [s.name for s in spec.slos]
    fault_names = [f.name for f in spec.faults]

    def ref(name: str, path: str, choices: list[str], what: str) -> None:
        if name not in choices:
            known = ", ".join(choices) or "none"
            hint = did_you_mean(name, choices) or f"known {what}s: {known}"
            out.append(Problem(f"unknown {what} {name!r}", path=path, hint=hint))

    for i, name in enumerate(spec.steady_state):
        ref(name, f"spec.steadyState[{i}]", slo_names, "SLO")
    for i, policy in enumerate(spec.policies):
        if policy.when.slo != "monitor":
            ref(policy.when.slo, f"spec.policies[{i}].when.slo", slo_names, "SLO")
        kind = registry.actions.get(policy.action)
        if kind is None:
            continue
        for where, fname in kind.fault_refs(policy):
            ref(fname, f"spec.policies[{i}].{where}", fault_names, "fault")
        out += kind.check(policy, f"spec.policies[{i}]", {f.name: f for f in spec.faults})
    if spec.gate is not None:
        ref(spec.gate.slo, "spec.gate.slo", slo_names, "SLO")
        out += gate_problems(spec.gate, [s for s in spec.slos if s.name == spec.gate.slo], "spec.gate")
        if spec.gate.experiment is not None:
            out.append(Problem("only a GameDay's gate names an experiment: an experiment's gate reads its own SLOs",
                               path="spec.gate.experiment", hint="remove `experiment`"))
    if spec.steady_state and not spec.slos:
        out.append(Problem("steadyState names SLOs but spec.slos is empty", path="spec.steadyState"))
    out += _target_checks(exp)
    return out


def _duplicates(path: str, names: list[str]) -> list[Problem]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(Problem(f"duplicate name {name!r} (also at index {seen[name]})",
                               path=f"{path}[{i}].name", hint="names must be unique"))
        seen.setdefault(name, i)
    return out


def _target_checks(exp: Experiment) -> list[Problem]:
    spec = exp.spec
    br = spec.blast_radius
    out: list[Problem] = []
    if spec.target.type == "host":
        for i, fault in enumerate(spec.faults):
            sel = fault.selector
            path = f"spec.faults[{i}]"
            kind = registry.faults.get(fault.type)
            if kind is not None and kind.host is None:
                out.append(Problem(
                    f"fault type {fault.type!r} cannot run on the host target",
                    path=f"{path}.type",
                    hint="use target.type: kubernetes, or a network/http fault through the fault proxy"))
            elif kind is not None and kind.host is not None and kind.host.custom is not None:
                if kind.reach is not None:  # it selects through its own fields: counted like a selector
                    out += _reach_problems(kind.reach(fault), br, set(br.namespaces or [spec.target.namespace]), path)
                continue
            elif sel.proxy is None and sel.port is None and sel.interface is None:
                out.append(Problem("a host fault needs selector.proxy, selector.port or selector.interface",
                                   path=f"{path}.selector",
                                   hint='e.g. selector: {proxy: {listen: "127.0.0.1:18080", upstream: "127.0.0.1:8080"}}'))
            elif isinstance(fault, HttpFault) and (sel.proxy is None or not sel.proxy.http):
                out.append(Problem(f"{fault.type} on the host needs an HTTP fault proxy",
                                   path=f"{path}.selector.proxy", hint="set selector.proxy.http: true"))
        return out
    allowed = set(br.namespaces or [spec.target.namespace])
    any_all = False
    for i, fault in enumerate(spec.faults):
        path = f"spec.faults[{i}]"
        sel = fault.selector
        if not sel.is_kubernetes():
            out.append(Problem("proxy/port/interface selectors are for target.type: host",
                               path=f"{path}.selector"))
            continue
        namespaces = list(sel.namespaces or [spec.target.namespace]) + list(sel.pods)
        if isinstance(fault, NetworkFault) and fault.peer is not None:
            namespaces += list(fault.peer.namespaces or [])
        mode: str = fault.mode
        value = fault.value
        if _raw(fault):
            raw_problems, raw_namespaces, narrowed, mode, value = _raw_selectors(fault, path)
            out += raw_problems
            namespaces += raw_namespaces
        out += _namespace_problems([(f"{path}.selector.namespaces", ns) for ns in dict.fromkeys(namespaces)],
                                   br, allowed)
        if _raw(fault):
            if not narrowed:
                out.append(Problem("the manifest's selector selects every pod of the namespace: name "
                                   "labelSelectors, expressionSelectors, annotationSelectors, fieldSelectors or pods",
                                   path=f"{path}.manifest.spec.selector",
                                   hint="e.g. selector: {labelSelectors: {app: my-service}}"))
        elif not sel.labels and not sel.fields and not sel.pods and not sel.annotations:
            out.append(Problem("selector selects every pod of the namespace: name labels, fields or pods",
                               path=f"{path}.selector", hint="e.g. selector: {labels: {app: my-service}}"))
        any_all = any_all or mode == "all"
        out += _mode_problems(mode, value, br, f"{path}.mode", f"{path}.value")
        if isinstance(fault, HttpFault) and fault.percent != 100:
            out.append(Problem("Chaos Mesh HTTPChaos affects every matching request; percent < 100 "
                               "is only supported on the host target", path=f"{path}.percent",
                               hint="remove percent, or narrow the selector/mode instead"))
    out += _mitigations_in_blast_radius(exp, allowed)
    return out


def _namespace_problems(namespaces: list[tuple[str, str]], br: BlastRadius, allowed: set[str],
                        who: str = "selector") -> list[Problem]:
    """Each ``(path, namespace)`` a fault reaches: inside the blast radius, not a system one unless allowed."""
    out: list[Problem] = []
    for path, ns in namespaces:
        if ns in SYSTEM_NAMESPACES and not br.allow_system_namespaces:
            out.append(Problem(
                f"{who} reaches system namespace {ns!r}", path=path,
                hint="set spec.blastRadius.allowSystemNamespaces: true and list it in blastRadius.namespaces"))
        elif ns not in allowed:
            out.append(Problem(
                f"{who} reaches namespace {ns!r} outside the blast radius {sorted(allowed)}",
                path=path, hint="add it to spec.blastRadius.namespaces"))
    return out


def _mode_problems(mode: str, value: str, br: BlastRadius, mode_path: str, value_path: str) -> list[Problem]:
    """A selection's mode against ``maxTargets``/``maxPercent``."""
    out: list[Problem] = []
    if mode == "all" and br.max_targets is None and br.max_percent is None:
        out.append(Problem("mode 'all' needs spec.blastRadius.maxTargets or maxPercent",
                           path=mode_path, hint="bound the blast radius, or use mode: one / fixed"))
    if mode == "fixed" and br.max_targets is not None and value.isdigit() and int(value) > br.max_targets:
        out.append(Problem(f"mode fixed with value {value} exceeds blastRadius.maxTargets "
                           f"{br.max_targets}", path=value_path))
    if mode in ("fixed-percent", "random-max-percent") and br.max_percent is not None \
            and value.isdigit() and int(value) > br.max_percent:
        out.append(Problem(f"{value}% exceeds blastRadius.maxPercent {br.max_percent:g}",
                           path=value_path))
    return out


def _reach_problems(reach: Reach, br: BlastRadius, allowed: set[str], path: str) -> list[Problem]:
    """What a kind selects through its own fields (a Chaos Toolkit action's arguments), counted like a
    Kubernetes fault's selector. What it cannot count (``reach.uncounted``) is not a problem: the dry
    run says it."""
    if not reach.namespaces:
        return []
    at = f"{path}.{reach.path}" if reach.path else path
    out = _namespace_problems([(f"{path}.{p}", ns) for p, ns in dict.fromkeys(reach.namespaces)], br, allowed,
                              "the action")
    if not reach.narrowed:
        out.append(Problem(f"the action selects {reach.what} in the whole namespace: its arguments name no label "
                           "selector or name", path=at,
                           hint="name what it acts on (label_selector, label_selectors, name)"))
    return out + _mode_problems(reach.mode, reach.value, br, at, at)


def _mitigations_in_blast_radius(exp: Experiment, allowed: set[str]) -> list[Problem]:
    """Degrade patches and circuit-breaks act on Kubernetes objects too: only inside the blast radius'
    namespaces (``degrade`` of ``kube-system/coredns`` is refused like a fault reaching it)."""
    out: list[Problem] = []
    spec = exp.spec
    for i, policy in enumerate(spec.policies):
        kind = registry.actions.get(policy.action)
        where = kind.acts_in(policy) if kind is not None else None
        if where is None:
            continue
        ns = where[1] or spec.target.namespace
        path = f"spec.policies[{i}].{where[0]}"
        if ns in SYSTEM_NAMESPACES and not spec.blast_radius.allow_system_namespaces:
            out.append(Problem(f"{policy.action} acts in system namespace {ns!r}", path=path,
                               hint="set spec.blastRadius.allowSystemNamespaces: true and list it in "
                                    "blastRadius.namespaces"))
        elif ns not in allowed:
            out.append(Problem(f"{policy.action} acts in namespace {ns!r} outside the blast radius {sorted(allowed)}",
                               path=path, hint="add it to spec.blastRadius.namespaces"))
    return out


def _raw(fault: FaultBase) -> bool:
    """A raw object (``chaos-mesh``): it carries its own selector."""
    return isinstance(getattr(fault, "manifest", None), dict)


RAW_SELECTOR_FIELDS = ("namespaces", "labelSelectors", "expressionSelectors", "annotationSelectors",
                       "fieldSelectors", "nodeSelectors", "nodes", "pods", "podPhaseSelectors")
"""Chaos Mesh's ``PodSelectorSpec``: the API server prunes any other key, so a misspelt one
(``labels``) would silently select more than written."""
NARROWING = ("labelSelectors", "expressionSelectors", "annotationSelectors", "fieldSelectors", "pods")


def _raw_selectors(fault: FaultBase, path: str) -> tuple[list[Problem], list[str], bool, str, str]:
    """A raw manifest's selectors counted like ours: (problems, namespaces reached, whether the pod
    selector narrows, mode, value)."""
    out: list[Problem] = []
    manifest: dict[str, Any] = getattr(fault, "manifest", {})
    spec = manifest.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    namespaces: list[str] = []
    narrowed = False
    selectors = [("spec.selector", spec.get("selector"))]
    target = spec.get("target")
    if isinstance(target, dict):
        selectors.append(("spec.target.selector", target.get("selector")))
    for where, selector in selectors:
        if selector is None:
            continue
        if not isinstance(selector, dict):
            out.append(Problem("must be a mapping", path=f"{path}.manifest.{where}"))
            continue
        for key in selector:
            if key not in RAW_SELECTOR_FIELDS:
                hint = "did you mean 'labelSelectors'?" if key == "labels" else did_you_mean(str(key),
                                                                                             RAW_SELECTOR_FIELDS)
                out.append(Problem(f"{key!r} is not a Chaos Mesh selector field: the API server would drop it "
                                   "and the object would select more than written", path=f"{path}.manifest.{where}.{key}",
                                   hint=hint or f"fields: {', '.join(RAW_SELECTOR_FIELDS)}"))
        namespaces += [str(n) for n in selector.get("namespaces") or [] if isinstance(n, str)]
        pods = selector.get("pods")
        namespaces += [str(n) for n in pods] if isinstance(pods, dict) else []
        if where == "spec.selector":
            narrowed = any(selector.get(k) for k in NARROWING)
    mode = spec.get("mode") if isinstance(spec.get("mode"), str) else fault.mode
    value = str(spec.get("value")) if spec.get("value") not in (None, "") else fault.value
    return out, namespaces, narrowed, str(mode), value


def check_policies(policies: Sequence[PolicyBase], faults: Sequence[str] | None = None) -> list[Problem]:
    """Problems the decider cannot work around (reported before anything is injected).

    An ``escalate.to`` of degrade/shrink/notify/circuit-break borrows the ``with`` block of the first
    policy with that action, so one must exist; shrink and rollback must name faults of the run.
    """
    problems: list[Problem] = []
    actions = {p.action for p in policies}
    for i, policy in enumerate(policies):
        path = f"spec.policies[{i}]"
        if policy.escalate is not None and policy.escalate.to not in ("rollback", "abort") \
                and policy.escalate.to not in actions:
            problems.append(Problem(
                f"escalates to {policy.escalate.to!r} but no policy has action {policy.escalate.to!r} "
                "to take its 'with' block from", path=f"{path}.escalate.to",
                hint="add such a policy, or escalate to rollback/abort"))
        if faults is None:
            continue
        known = set(faults)
        kind = registry.actions.get(policy.action)
        for where, name in kind.fault_refs(policy) if kind is not None else ():
            if name not in known:
                problems.append(Problem(f"{policy.action} names unknown fault {name!r}",
                                        path=f"{path}.{where}", hint=f"faults: {', '.join(faults)}"))
    return problems


def check_raw_references(doc: Any) -> list[Problem]:
    """The unknown-SLO and unknown-fault references of a document the schema refused, from its raw
    mapping, so a file's problems are all reported in one pass (names that are not strings, or lists
    that are not lists, are the schema's problems and skipped here)."""
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        return []

    def names(key: str) -> list[str]:
        items = spec.get(key)
        return [i["name"] for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)] \
            if isinstance(items, list) else []

    slos, faults = names("slos"), names("faults")
    out: list[Problem] = []

    def ref(name: Any, path: str, choices: list[str], what: str) -> None:
        if isinstance(name, str) and name not in choices:
            hint = did_you_mean(name, choices) or f"known {what}s: {', '.join(choices) or 'none'}"
            out.append(Problem(f"unknown {what} {name!r}", path=path, hint=hint))

    steady = spec.get("steadyState")
    for i, name in enumerate(steady if isinstance(steady, list) else []):
        ref(name, f"spec.steadyState[{i}]", slos, "SLO")
    policies = spec.get("policies")
    for i, policy in enumerate(policies if isinstance(policies, list) else []):
        if not isinstance(policy, dict):
            continue
        when = policy.get("when")
        if isinstance(when, dict) and when.get("slo") != "monitor":
            ref(when.get("slo"), f"spec.policies[{i}].when.slo", slos, "SLO")
        with_ = policy.get("with")
        if isinstance(with_, dict):
            if policy.get("action") == "rollback" and isinstance(with_.get("faults"), list):
                for j, fname in enumerate(with_["faults"]):
                    ref(fname, f"spec.policies[{i}].with.faults[{j}]", faults, "fault")
            if policy.get("action") == "shrink":
                ref(with_.get("fault"), f"spec.policies[{i}].with.fault", faults, "fault")
    gate = spec.get("gate")
    if isinstance(gate, dict):
        ref(gate.get("slo"), "spec.gate.slo", slos, "SLO")
    return out


def gate_problems(gate: Gate, slos: list[Slo], path: str) -> list[Problem]:
    """The gate's SLO must have a PromQL query: the budget is computed over its history in Prometheus."""
    return [Problem(f"SLO {gate.slo!r} is a probe: the gate computes the error budget from an SLO's PromQL "
                    "query over a window, and a probe has no history in Prometheus", path=f"{path}.slo",
                    hint="name an SLO with a `query`")
            for slo in slos[:1] if slo.probe is not None]
