"""``http-abort``: the request never reaches the application, on every target.

Without ``code`` the connection is cut (Kubernetes: HTTPChaos ``abort``; host: the fault proxy resets
it). With ``code`` the client is answered that status without forwarding: the fault proxy does this on
the host; Chaos Mesh cannot, so the Kubernetes rendering refuses ``code`` and points at ``http-status``.
Shrinks by percent (host) or mode/value.
"""

from typing import Any, Literal

from pydantic import Field

from chaos.faults.common import http_rendering, request_match, where
from chaos.model.faults import HttpFault
from chaos.model.kinds import FaultKind, HostRealisation, KindRefused


class HttpAbort(HttpFault):
    """The request never reaches the application (see the module)."""

    type: Literal["http-abort"]
    code: int | None = Field(default=None, ge=100, le=599)
    """Host: status code to answer with instead of forwarding; without it the connection is aborted."""


def _template(fault: HttpAbort) -> dict[str, Any]:
    if fault.code is not None:
        raise KindRefused(
            "http-abort with a code answers without forwarding, which Chaos Mesh cannot do on "
            "Kubernetes; use type: http-status (the application processes the request and the "
            "client receives the code) or drop code (the connection is cut before the application)")
    return {}


def _proxy(fault: HttpAbort) -> dict[str, Any]:
    if fault.code is None:
        return {"kind": "reset", "percent": fault.percent}
    return {"kind": "http-abort", "code": fault.code, **request_match(fault)}


def _describe(fault: HttpAbort) -> str:
    what = f"answer {fault.code}" if fault.code is not None else "cut the connection"
    return f"{what} for {fault.percent:g}% of requests{where(fault)}"


KIND = FaultKind(
    name="http-abort", model=HttpAbort, words="HTTP abort", describe=_describe,
    kube=http_rendering(_template), host=HostRealisation(proxy=_proxy),
    shrinkable=frozenset({"percent", "mode", "value"}),
)
