"""Experiment → Chaos Mesh objects (NetworkChaos, PodChaos, StressChaos, HTTPChaos).

Each fault renders through its Jinja2 template in ``manifests/`` (sandboxed, StrictUndefined),
is parsed back to a dict, labelled as ours and checked against the Chaos Mesh CRD rules
(``chaos.compiling.crd_rules``) before anyone sees it. Deterministic for a given run id.
Pure; called by the CLI (``compile``), the engine (before injecting) and the TUI (detail view).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from chaos.compiling import naming
from chaos.compiling.crd_rules import validate_object
from chaos.errors import InvalidExperiment, Problem
from chaos.model.experiment import Experiment
from chaos.model.faults import (
    ContainerKill,
    CpuStress,
    FaultBase,
    HttpAbort,
    HttpFault,
    HttpPatch,
    HttpStatus,
    MemoryStress,
    NetworkBandwidth,
    NetworkCorrupt,
    NetworkDelay,
    NetworkDuplicate,
    NetworkFault,
    NetworkLoss,
    NetworkPartition,
    PodFailure,
    PodKill,
    RawChaosMesh,
    Selector,
)
from chaos.templating import MANIFESTS_DIR, TemplateProblem, make_environment

_NETWORK_ACTIONS: dict[type[NetworkFault], str] = {
    NetworkDelay: "delay", NetworkLoss: "loss", NetworkPartition: "partition",
    NetworkBandwidth: "bandwidth", NetworkDuplicate: "duplicate", NetworkCorrupt: "corrupt",
}


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


def _number_text(value: float) -> str:
    return f"{value:g}"


def _render(env: Any, exp: Experiment, fault: FaultBase, meta: dict[str, Any]) -> dict[str, Any]:
    ns = exp.spec.target.namespace
    ctx: dict[str, Any] = {"obj": meta, "fault": fault, "mode": fault.mode, "value": fault.value,
                           "selector": selector_of(fault.selector, ns)}
    if isinstance(fault, RawChaosMesh):
        return _raw(fault, meta)
    if isinstance(fault, NetworkFault):
        template = "networkchaos.yaml.j2"
        ctx["action"] = _NETWORK_ACTIONS[type(fault)]
        ctx["correlation"] = _number_text(getattr(fault, "correlation", 0))
        ctx["percent"] = _number_text(getattr(fault, "percent", 0))
        ctx["bandwidth"] = _bandwidth(fault) if isinstance(fault, NetworkBandwidth) else None
        reorder = fault.reorder if isinstance(fault, NetworkDelay) else None
        ctx["reorder"] = None if reorder is None else {
            "reorder": _number_text(reorder.percent), "correlation": _number_text(reorder.correlation),
            "gap": reorder.gap}
        target: dict[str, Any] | None = None
        external: list[str] = []
        if fault.peer is not None:
            external = list(fault.peer.external_targets)
            if fault.peer.labels or fault.peer.fields or fault.peer.namespaces:
                peer_sel = Selector(namespaces=fault.peer.namespaces, labels=fault.peer.labels,
                                    fields=fault.peer.fields)
                target = {"mode": fault.peer.mode, "selector": selector_of(peer_sel, ns)}
                if fault.peer.value:
                    target["value"] = fault.peer.value
        ctx["target"] = target
        ctx["external_targets"] = external
    elif isinstance(fault, PodKill | PodFailure | ContainerKill):
        template = "podchaos.yaml.j2"
    elif isinstance(fault, CpuStress | MemoryStress):
        template = "stresschaos.yaml.j2"
    elif isinstance(fault, HttpFault):
        template = "httpchaos.yaml.j2"
        if isinstance(fault, HttpAbort) and fault.code is not None:
            raise TemplateProblem(
                "http-abort with a code answers without forwarding, which Chaos Mesh cannot do on "
                "Kubernetes; use type: http-status (the application processes the request and the "
                "client receives the code) or drop code (the connection is cut before the application)")
        ctx["tls"] = None if fault.tls is None else {
            "secretName": fault.tls.secret_name, "secretNamespace": fault.tls.secret_namespace,
            "certName": fault.tls.cert_name, "keyName": fault.tls.key_name,
            **({"caName": fault.tls.ca_name} if fault.tls.ca_name else {})}
        if isinstance(fault, HttpStatus):
            ctx["replace"] = {"code": fault.code, **({"headers": dict(fault.headers)} if fault.headers else {})}
        if isinstance(fault, HttpPatch):
            patch: dict[str, Any] = {}
            if fault.headers:
                patch["headers"] = [list(h) for h in fault.headers]
            if fault.queries:
                patch["queries"] = [list(q) for q in fault.queries]
            if fault.body is not None:
                patch["body"] = {"type": "JSON", "value": fault.body}
            ctx["patch"] = patch
    else:  # pragma: no cover - the model's union is closed
        raise TemplateProblem(f"no template for fault type {getattr(fault, 'type', '?')}")
    try:
        text = env.get_template(template).render(**ctx)
    except Exception as exc:  # jinja errors of our own templates: a bug, reported cleanly
        raise TemplateProblem(f"rendering {template} failed: {exc}") from exc
    body = yaml.safe_load(text)
    if not isinstance(body, dict):
        raise TemplateProblem(f"{template} did not render a mapping")
    return body


def _bandwidth(fault: NetworkBandwidth) -> dict[str, Any]:
    out: dict[str, Any] = {"rate": fault.rate, "limit": fault.limit, "buffer": fault.buffer}
    if fault.peakrate is not None:
        out["peakrate"] = fault.peakrate
    if fault.minburst is not None:
        out["minburst"] = fault.minburst
    return out


def _raw(fault: RawChaosMesh, meta: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(fault.manifest)
    metadata = body.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise TemplateProblem("manifest.metadata must be a mapping")
    metadata["name"] = meta["name"]
    metadata.setdefault("namespace", meta["namespace"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **meta["labels"]}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **meta["annotations"]}
    spec = body.setdefault("spec", {})
    if isinstance(spec, dict):
        spec["duration"] = fault.duration
    return body


def to_yaml_stream(objects: list[CompiledFault]) -> str:
    """Multi-document YAML, stable key order."""
    return "".join("---\n" + yaml.safe_dump(o.body, sort_keys=False, default_flow_style=False)
                   for o in objects)
