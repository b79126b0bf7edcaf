"""``http-patch``: headers / query parameters added or a JSON body merged into requests or responses
(HTTPChaos ``patch``). Kubernetes only."""

import json
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from chaos.faults.common import http_rendering, where
from chaos.model.faults import HttpFault
from chaos.model.kinds import FaultKind


class HttpPatch(HttpFault):
    """Add headers / query parameters / merge a JSON body into requests or responses. Kubernetes only."""

    type: Literal["http-patch"]
    target: Literal["Request", "Response"] = "Request"
    headers: list[tuple[str, str]] = Field(default=[])
    """Headers appended, as ``[name, value]`` pairs."""
    queries: list[tuple[str, str]] = Field(default=[])
    """Query parameters appended (requests only)."""
    body: str | None = None
    """A JSON document merged into the body (JSON merge patch)."""

    @model_validator(mode="after")
    def _something_to_patch(self) -> Self:
        if not (self.headers or self.queries or self.body):
            raise ValueError("http-patch needs headers, queries or body")
        if self.queries and self.target == "Response":
            raise ValueError("queries can only be patched into requests (target: Request)")
        if self.body is not None:
            try:
                json.loads(self.body)
            except ValueError as exc:
                raise ValueError(f"body must be a JSON document: {exc}") from None
        return self


def _template(fault: HttpPatch) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if fault.headers:
        patch["headers"] = [list(h) for h in fault.headers]
    if fault.queries:
        patch["queries"] = [list(q) for q in fault.queries]
    if fault.body is not None:
        patch["body"] = {"type": "JSON", "value": fault.body}
    return {"patch": patch}


KIND = FaultKind(
    name="http-patch", model=HttpPatch, words="HTTP patch",
    describe=lambda f: f"patch {f.target.lower()}s{where(f)}",
    kube=http_rendering(_template), shrinkable=frozenset({"mode", "value"}),
)
