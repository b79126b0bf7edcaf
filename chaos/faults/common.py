"""What several fault kinds share: the NetworkChaos/HTTPChaos/PodChaos/StressChaos renderings, the
network kinds' shrink patch and the proxy's request match. Pure (the Kubernetes helpers of
``chaos.compiling`` are imported inside the functions that render)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaos.model.faults import HttpFault, NetworkFault, Selector
from chaos.model.kinds import KubeRendering


def number_text(value: float) -> str:
    return f"{value:g}"


def network_rendering(action: str, extra: Callable[[Any], Mapping[str, Any]] | None = None,
                      shrink: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None
                      ) -> KubeRendering:
    """A NetworkChaos of ``action``; ``extra(fault)`` adds the action's own template variables."""

    def context(fault: NetworkFault, namespace: str) -> dict[str, Any]:
        from chaos.compiling.kubernetes import selector_of

        ctx: dict[str, Any] = {"action": action, "correlation": number_text(getattr(fault, "correlation", 0)),
                               "percent": number_text(getattr(fault, "percent", 0)), "bandwidth": None,
                               "reorder": None}
        target: dict[str, Any] | None = None
        external: list[str] = []
        if fault.peer is not None:
            external = list(fault.peer.external_targets)
            if fault.peer.labels or fault.peer.fields or fault.peer.namespaces:
                peer_sel = Selector(namespaces=fault.peer.namespaces, labels=fault.peer.labels,
                                    fields=fault.peer.fields)
                target = {"mode": fault.peer.mode, "selector": selector_of(peer_sel, namespace)}
                if fault.peer.value:
                    target["value"] = fault.peer.value
        ctx["target"] = target
        ctx["external_targets"] = external
        if extra is not None:
            ctx.update(extra(fault))
        return ctx

    return KubeRendering(template="networkchaos.yaml.j2", context=context, shrink=shrink or mode_value_patch)


def mode_value_patch(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a shrink every kind supports: fewer targets (``mode``/``value``)."""
    patch: dict[str, Any] = {}
    if params.get("mode") is not None:
        patch["mode"] = str(params["mode"])
    if params.get("value") is not None:
        patch["value"] = str(params["value"])
    return patch


def percent_patch(key: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]:
    """Shrink of a netem percentage (``loss.loss``, ``duplicate.duplicate``, ``corrupt.corrupt``)."""

    def patch(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        out = mode_value_patch(spec, params)
        if params.get("percent") is not None and key in spec:
            out[key] = {**spec[key], key: f"{float(params['percent']):g}"}
        return out

    return patch


def http_rendering(extra: Callable[[Any], Mapping[str, Any]] | None = None) -> KubeRendering:
    """An HTTPChaos; ``extra(fault)`` adds the kind's own template variables (replace, patch)."""

    def context(fault: HttpFault, namespace: str) -> dict[str, Any]:
        ctx: dict[str, Any] = {"tls": None if fault.tls is None else {
            "secretName": fault.tls.secret_name, "secretNamespace": fault.tls.secret_namespace,
            "certName": fault.tls.cert_name, "keyName": fault.tls.key_name,
            **({"caName": fault.tls.ca_name} if fault.tls.ca_name else {})}}
        if extra is not None:
            ctx.update(extra(fault))
        return ctx

    return KubeRendering(template="httpchaos.yaml.j2", context=context, shrink=mode_value_patch)


POD_RENDERING = KubeRendering(template="podchaos.yaml.j2", shrink=mode_value_patch)
STRESS_RENDERING = KubeRendering(template="stresschaos.yaml.j2", shrink=mode_value_patch)


def request_match(fault: HttpFault) -> dict[str, Any]:
    """The fault proxy's request match of an HTTP fault (method, path prefix, share of requests)."""
    return {"percent": fault.percent, "method": fault.method or "", "path_prefix": (fault.path or "").rstrip("*")}


def where(fault: Any) -> str:
    """Where a fault applies, in words (for ``describe``)."""
    sel = fault.selector
    if sel.proxy is not None:
        return f" through the proxy {sel.proxy.listen} → {sel.proxy.upstream}"
    if sel.port is not None:
        return f" on {sel.protocol} port {sel.port}"
    if sel.interface is not None:
        return f" on {sel.interface}"
    if sel.labels:
        return " on pods " + ",".join(f"{k}={v}" for k, v in sel.labels.items())
    return ""
