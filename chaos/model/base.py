"""Shared pydantic base and constrained types for the experiment model.

Every model class forbids unknown keys (so typos are reported with a "did you mean"), is
frozen (values, not objects with identity) and accepts both the camelCase names of the file
format and the snake_case attribute names. Pure: no I/O.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from chaos.model.durations import parse_duration, parse_window
from chaos.secrets import Secret, split_userinfo

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_window(text: str) -> str:
    parse_window(text)
    return text


def _check_dns_label(text: str) -> str:
    if len(text) > 63 or not DNS_LABEL_RE.match(text):
        raise ValueError(
            f"{text!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


def _check_no_userinfo(text: str) -> str:
    if split_userinfo(text)[1] is not None:
        raise ValueError("a URL here may not carry credentials (user:password@): they would be stored and "
                         "shown with it; send them in a header from the environment instead, e.g. "
                         "headers: {Authorization: \"Bearer {{ env.TOKEN }}\"}")
    return text


PublicUrl = Annotated[str, AfterValidator(_check_no_userinfo)]
"""A URL that is stored and shown as written, so it may not hold credentials."""

SecretHeaders = dict[str, Secret]
"""HTTP header values: secrets (``***`` in every dump; revealed only by the client that sends them)."""

Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration string such as ``500ms``; validated, kept as text (Chaos Mesh wants the text)."""

Window = Annotated[str, AfterValidator(_check_window)]
"""A window or schedule duration: ``Duration``'s units plus ``d``, ``w``, ``y`` (``30d``)."""

DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
"""A Kubernetes DNS-1123 label (names of experiments, faults, SLOs, policies)."""


def _to_camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


class Model(BaseModel):
    """Base of every model class: strict keys, immutable, camelCase aliases."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=_to_camel,
        str_strip_whitespace=True,
        defer_build=True,
    )
