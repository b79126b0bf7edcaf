"""``http-status``: the application processes the request; the client receives ``code`` instead of its
status (HTTPChaos ``target: Response`` + ``replace.code``). Kubernetes only."""

from typing import Any, Literal

from pydantic import Field

from chaos.faults.common import http_rendering, where
from chaos.model.faults import HttpFault
from chaos.model.kinds import FaultKind


class HttpStatus(HttpFault):
    """The client receives ``code`` instead of the application's status. Kubernetes only."""

    type: Literal["http-status"]
    code: int = Field(ge=100, le=599)
    headers: dict[str, str] = Field(default={})
    """Response headers replaced as well (HTTPChaos ``replace.headers``)."""


def _template(fault: HttpStatus) -> dict[str, Any]:
    return {"replace": {"code": fault.code, **({"headers": dict(fault.headers)} if fault.headers else {})}}


KIND = FaultKind(
    name="http-status", model=HttpStatus, words="HTTP status replaced",
    describe=lambda f: f"status {f.code} instead of the application's{where(f)}",
    kube=http_rendering(_template), shrinkable=frozenset({"mode", "value"}),
)
