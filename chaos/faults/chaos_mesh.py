"""``chaos-mesh``: a raw Chaos Mesh object, passed through after validation with our labels and the
fault's duration. Kubernetes only. Shrinks whatever of percent/latency/jitter/mode/value its spec has."""

import copy
from collections.abc import Mapping
from typing import Any, Literal

from chaos.faults.common import mode_value_patch
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind, KindRefused, KubeRendering


class RawChaosMesh(FaultBase):
    type: Literal["chaos-mesh"]
    manifest: dict[str, Any]
    """A raw Chaos Mesh object; passed through after validation, with our labels and duration."""


def _build(fault: RawChaosMesh, meta: Mapping[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(fault.manifest)
    metadata = body.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise KindRefused("manifest.metadata must be a mapping")
    metadata["name"] = meta["name"]
    metadata.setdefault("namespace", meta["namespace"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **meta["labels"]}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **meta["annotations"]}
    spec = body.setdefault("spec", {})
    if isinstance(spec, dict):
        spec["duration"] = fault.duration
    return body


def _shrink(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if params.get("percent") is not None:
        for key in ("loss", "duplicate", "corrupt"):
            if key in spec:
                patch[key] = {**spec[key], key: f"{float(params['percent']):g}"}
    if "delay" in spec:
        delay = dict(spec["delay"])
        for key in ("latency", "jitter"):
            if params.get(key) is not None:
                delay[key] = str(params[key])
        if delay != spec["delay"]:
            patch["delay"] = delay
    return {**patch, **mode_value_patch(spec, params)}


def _describe(fault: RawChaosMesh) -> str:
    kind = fault.manifest.get("kind", "object")
    action = (fault.manifest.get("spec") or {}).get("action") if isinstance(fault.manifest.get("spec"), dict) else None
    return f"Chaos Mesh {kind}" + (f" {action}" if action else "")


KIND = FaultKind(name="chaos-mesh", model=RawChaosMesh, words="Chaos Mesh object", describe=_describe,
                 kube=KubeRendering(build=_build, shrink=_shrink),
                 shrinkable=frozenset({"percent", "latency", "jitter", "mode", "value"}))
