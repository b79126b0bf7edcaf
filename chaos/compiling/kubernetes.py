"""Experiment → Chaos Mesh objects (NetworkChaos, PodChaos, StressChaos, HTTPChaos).

Each fault renders through its Jinja2 template in ``manifests/`` (sandboxed, StrictUndefined),
is parsed back to a dict, labelled as ours and checked against the Chaos Mesh CRD rules
(``chaos.compiling.crd_rules``) before anyone sees it. Deterministic for a given run id.
Pure; called by the CLI (``compile``), the engine (before injecting) and the TUI (detail view).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from chaos import registry
from chaos.compiling import naming
from chaos.compiling.crd_rules import validate_object
from chaos.errors import InvalidExperiment, Problem
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultBase, Selector
from chaos.model.kinds import KindRefused
from chaos.templating import MANIFESTS_DIR, TemplateProblem, make_environment


@dataclass(frozen=True)
class CompiledFault:
    """One fault and the object that realises it on a cluster."""

    fault: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])


def compile_experiment(exp: Experiment, run_id: str, source: str = "",
                       started_at: datetime | None = None,
                       template_dir: Path = MANIFESTS_DIR) -> list[CompiledFault]:
    """Every fault of ``exp`` as a validated Chaos Mesh object. Raises :class:`InvalidExperiment`."""
    if exp.spec.target.type != "kubernetes":
        raise InvalidExperiment(Problem("only target.type: kubernetes compiles to Chaos Mesh objects",
                                        path="spec.target.type", file=source,
                                        hint="host experiments run with `aftershock run` (see --dry-run)"))
    env = make_environment(template_dir)
    out: list[CompiledFault] = []
    problems: list[Problem] = []
    for index, fault in enumerate(exp.spec.faults):
        meta = _metadata(exp, fault, run_id, source, started_at)
        try:
            body = _render(env, exp, fault, meta)
        except TemplateProblem as exc:
            problems.append(Problem(str(exc), path=f"spec.faults[{index}]", file=source))
            continue
        for problem in validate_object(body):
            problems.append(Problem(problem.message, path=f"spec.faults[{index}] → {body.get('kind')}."
                                    f"{problem.path}", file=source, hint=problem.hint))
        out.append(CompiledFault(fault=fault.name, body=body))
    if problems:
        raise InvalidExperiment(problems)
    return out


def _metadata(exp: Experiment, fault: FaultBase, run_id: str, source: str,
              started_at: datetime | None) -> dict[str, Any]:
    annotations = {naming.SOURCE_ANNOTATION: source or "<stdin>", naming.FAULT_ANNOTATION: fault.name}
    if started_at is not None:
        deadline = started_at + timedelta(seconds=fault.duration_s)
        annotations[naming.DEADLINE_ANNOTATION] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = (fault.selector.namespaces or [exp.spec.target.namespace])[0]
    return {
        "name": naming.object_name(exp.name, fault.name, run_id),
        "namespace": namespace,
        "labels": naming.labels(exp.name, run_id),
        "annotations": annotations,
    }


def selector_of(sel: Selector, default_namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if sel.pods:
        out["pods"] = {ns: list(names) for ns, names in sel.pods.items()}
    else:
        out["namespaces"] = list(sel.namespaces or [default_namespace])
    if sel.labels:
        out["labelSelectors"] = dict(sel.labels)
    if sel.expressions:
        out["expressionSelectors"] = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
            for e in sel.expressions]
    if sel.fields:
        out["fieldSelectors"] = dict(sel.fields)
    if sel.annotations:
        out["annotationSelectors"] = dict(sel.annotations)
    if sel.node_selectors:
        out["nodeSelectors"] = dict(sel.node_selectors)
    return out


def _render(env: Any, exp: Experiment, fault: FaultBase, meta: dict[str, Any]) -> dict[str, Any]:
    """The object of ``fault``, through its kind's rendering (a template, or the object it builds)."""
    kind = registry.faults.get(fault.type)
    if kind is None or kind.kube is None:
        words = kind.words if kind is not None else fault.type
        raise TemplateProblem(f"{fault.type} ({words}) cannot run on the Kubernetes target"
                              + (f"; it runs on: {', '.join(kind.targets)}" if kind is not None and kind.targets else ""))
    ns = exp.spec.target.namespace
    try:
        if kind.kube.build is not None:
            return kind.kube.build(fault, meta)
        template = kind.kube.template
        ctx: dict[str, Any] = {"obj": meta, "fault": fault, "mode": fault.mode, "value": fault.value,
                               "selector": selector_of(fault.selector, ns), **kind.kube.context(fault, ns)}
    except KindRefused as exc:
        raise TemplateProblem(str(exc)) from None
    try:
        text = env.get_template(template).render(**ctx)
    except Exception as exc:  # jinja errors of a kind's template: a bug, reported cleanly
        raise TemplateProblem(f"rendering {template} failed: {exc}") from exc
    body = yaml.safe_load(text)
    if not isinstance(body, dict):
        raise TemplateProblem(f"{template} did not render a mapping")
    return body


def to_yaml_stream(objects: list[CompiledFault]) -> str:
    """Multi-document YAML, stable key order."""
    return "".join("---\n" + yaml.safe_dump(o.body, sort_keys=False, default_flow_style=False)
                   for o in objects)
