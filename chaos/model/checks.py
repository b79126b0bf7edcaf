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
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultBase, HttpFault, NetworkFault
from chaos.model.policies import CircuitBreakPolicy, Policy, RollbackPolicy, ShrinkPolicy

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
        if isinstance(policy, RollbackPolicy) and policy.with_.faults:
            for j, fname in enumerate(policy.with_.faults):
                ref(fname, f"spec.policies[{i}].with.faults[{j}]", fault_names, "fault")
        if isinstance(policy, ShrinkPolicy):
            ref(policy.with_.fault, f"spec.policies[{i}].with.fault", fault_names, "fault")
        if isinstance(policy, CircuitBreakPolicy) and policy.keep and policy.escalate:
            out.append(Problem("keep: true and escalate cannot be combined",
                               path=f"spec.policies[{i}]"))
    if spec.gate is not None:
        ref(spec.gate.slo, "spec.gate.slo", slo_names, "SLO")
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
                continue  # the kind realises it itself, from its own fields
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
        if _raw(fault):
            manifest: dict[str, Any] = getattr(fault, "manifest", {})
            raw_sel = manifest.get("spec", {}).get("selector", {}) if isinstance(manifest.get("spec"), dict) else {}
            namespaces += list(raw_sel.get("namespaces", []) or []) if isinstance(raw_sel, dict) else []
        for ns in dict.fromkeys(namespaces):
            if ns in SYSTEM_NAMESPACES and not br.allow_system_namespaces:
                out.append(Problem(
                    f"selector reaches system namespace {ns!r}", path=f"{path}.selector.namespaces",
                    hint="set spec.blastRadius.allowSystemNamespaces: true and list it in blastRadius.namespaces"))
            elif ns not in allowed:
                out.append(Problem(
                    f"selector reaches namespace {ns!r} outside the blast radius {sorted(allowed)}",
                    path=f"{path}.selector.namespaces", hint="add it to spec.blastRadius.namespaces"))
        if not sel.labels and not sel.fields and not sel.pods and not sel.annotations \
                and not _raw(fault):
            out.append(Problem("selector selects every pod of the namespace: name labels, fields or pods",
                               path=f"{path}.selector", hint="e.g. selector: {labels: {app: my-service}}"))
        any_all = any_all or fault.mode == "all"
        if fault.mode == "all" and br.max_targets is None and br.max_percent is None:
            out.append(Problem("mode 'all' needs spec.blastRadius.maxTargets or maxPercent",
                               path=f"{path}.mode", hint="bound the blast radius, or use mode: one / fixed"))
        if fault.mode == "fixed" and br.max_targets is not None and int(fault.value) > br.max_targets:
            out.append(Problem(f"mode fixed with value {fault.value} exceeds blastRadius.maxTargets "
                               f"{br.max_targets}", path=f"{path}.value"))
        if fault.mode in ("fixed-percent", "random-max-percent") and br.max_percent is not None \
                and int(fault.value) > br.max_percent:
            out.append(Problem(f"{fault.value}% exceeds blastRadius.maxPercent {br.max_percent:g}",
                               path=f"{path}.value"))
        if isinstance(fault, HttpFault) and fault.percent != 100:
            out.append(Problem("Chaos Mesh HTTPChaos affects every matching request; percent < 100 "
                               "is only supported on the host target", path=f"{path}.percent",
                               hint="remove percent, or narrow the selector/mode instead"))
    return out


def _raw(fault: FaultBase) -> bool:
    """A raw object (``chaos-mesh``): it carries its own selector."""
    return isinstance(getattr(fault, "manifest", None), dict)


def check_policies(policies: Sequence[Policy], faults: Sequence[str] | None = None) -> list[Problem]:
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
        if isinstance(policy, ShrinkPolicy) and policy.with_.fault not in known:
            problems.append(Problem(f"shrinks unknown fault {policy.with_.fault!r}",
                                    path=f"{path}.with.fault", hint=f"faults: {', '.join(faults)}"))
        if isinstance(policy, RollbackPolicy):
            for j, name in enumerate(policy.with_.faults or ()):
                if name not in known:
                    problems.append(Problem(f"rolls back unknown fault {name!r}",
                                            path=f"{path}.with.faults[{j}]", hint=f"faults: {', '.join(faults)}"))
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
