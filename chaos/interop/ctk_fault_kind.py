"""``chaostoolkit``: a Chaos Toolkit action as a fault — its CTK rollback as the removal.

The action (a ``python``, ``process`` or ``http`` provider, as Chaos Toolkit writes it) is run
through chaoslib, so it behaves as under ``chaos run``; the CTK ``configuration`` and ``secrets``
it carries are resolved by chaoslib at run time (secrets only as ``{type: env|vault, ...}``
references: a value written in the file is refused). Bounded like every fault, by how it ``ends``:

* ``rollback`` (default): the paired ``rollback`` runs at the deadline (a detached watchdog runs it
  even if Aftershock is killed), on abort and from ``aftershock recover``;
* ``instantaneous``: the action's effect is over when it returns (terminate pods, reboot); the
  duration is how long the SLOs are watched after it;
* ``self``: the action bounds itself (an AWS FIS experiment, a Chaos Mesh object with a duration);
  the duration is an upper bound.

An action with no rollback that is neither is refused. Realised on the host target (the action runs
on this machine, whatever it reaches). What a chaostoolkit-kubernetes action selects by its arguments
(namespace, label selector, name, quantity) is counted against the blast radius like a Kubernetes
fault's selector (:mod:`chaos.interop.ctk_reach`); what cannot be counted (a process on this host, an
HTTP endpoint, other drivers, nodes) the dry run says in words. The I/O lives in :mod:`chaos.interop.ctk_fault` (imported
when a run needs it). The kind lives with the Chaos Toolkit interop, not in ``chaos.faults`` (pure
kinds only), as a plugin's kind would: registered by the entry point ``chaostoolkit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from chaos.interop.ctk_reach import command_words, reach_of
from chaos.model.faults import FaultBase
from chaos.model.kinds import FaultKind, HostRealisation, Reach

PROVIDERS = ("python", "process", "http")


def check_activity(value: Any, what: str) -> dict[str, Any]:
    """A CTK activity as chaoslib runs it (``type``, ``name``, a ``provider`` it can run)."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a Chaos Toolkit activity (a mapping)")
    provider = value.get("provider")
    if not isinstance(provider, dict):
        raise ValueError(f"{what}.provider is required (a mapping with type {', '.join(PROVIDERS)})")
    kind = provider.get("type")
    if kind not in PROVIDERS:
        raise ValueError(f"{what}.provider.type {kind!r} is not one of {', '.join(PROVIDERS)}")
    if kind == "python" and not (provider.get("module") and provider.get("func")):
        raise ValueError(f"{what}: a python provider needs module and func")
    if kind == "process" and not provider.get("path"):
        raise ValueError(f"{what}: a process provider needs path")
    if kind == "http" and not provider.get("url"):
        raise ValueError(f"{what}: an http provider needs url")
    if not value.get("name"):
        raise ValueError(f"{what}.name is required")
    return value


def check_secrets(value: Mapping[str, Any]) -> Mapping[str, Any]:
    for scope, keys in value.items():
        if not isinstance(keys, dict):
            raise ValueError(f"secrets.{scope} must be a mapping of keys")
        for key, ref in keys.items():
            if not (isinstance(ref, dict) and ref.get("type") in ("env", "vault")):
                raise ValueError(f"secrets.{scope}.{key}: a value written in the file is refused; use "
                                 f"{{type: env, key: NAME}} (chaoslib reads it at run time)")
    return value


class ChaosToolkitFault(FaultBase):
    type: Literal["chaostoolkit"]
    action: dict[str, Any]
    """The CTK action (``type: action``, ``name``, ``provider``)."""
    rollback: dict[str, Any] | None = None
    """The CTK action that undoes it."""
    ends: Literal["rollback", "instantaneous", "self"] = "rollback"
    configuration: dict[str, Any] = Field(default={})
    """CTK configuration as written (``{type: env}`` entries are read by chaoslib at run time)."""
    secrets: dict[str, Any] = Field(default={})
    """CTK secrets, by reference only."""

    @field_validator("action")
    @classmethod
    def _action(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_activity(value, "action")

    @field_validator("rollback")
    @classmethod
    def _rollback(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_activity(value, "rollback")

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_secrets(value)
        return value

    @model_validator(mode="after")
    def _ends_bounded(self) -> Self:
        if self.ends == "rollback" and self.rollback is None:
            raise ValueError("an action without a rollback is accepted only when it is declared instantaneous "
                             "(ends: instantaneous, e.g. terminate pods) or self-bounded (ends: self, e.g. an FIS "
                             "experiment); otherwise add the rollback that undoes it")
        if self.ends != "rollback" and self.rollback is not None:
            raise ValueError(f"ends: {self.ends} has no rollback to run; remove it, or use ends: rollback")
        sel = self.selector
        if sel.labels or sel.fields or sel.pods or sel.annotations or sel.proxy or sel.port is not None:
            raise ValueError("a chaostoolkit fault selects through its action's arguments; selector is not used")
        if self.mode != "one" or self.value:
            raise ValueError("a chaostoolkit fault selects through its action's arguments; mode/value are not used")
        return self


def provider_words(activity: Mapping[str, Any]) -> str:
    provider = activity.get("provider") or {}
    kind = provider.get("type")
    if kind == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if kind == "process":
        return f"process {command_words(provider)!r} on the Aftershock host"
    return f"HTTP {str(provider.get('method') or 'GET').upper()} {provider.get('url')}"


def describe_params(params: Mapping[str, Any]) -> str:
    text = f"Chaos Toolkit action {provider_words(params.get('action') or {})}"
    ends = params.get("ends")
    if ends == "rollback":
        text += f", rollback {provider_words(params.get('rollback') or {})} at the deadline"
    elif ends == "instantaneous":
        text += " (instantaneous)"
    else:
        text += " (ends by itself)"
    return f"{text}; {reach_of(params.get('action') or {}).describe()}"


def _describe(fault: ChaosToolkitFault) -> str:
    return describe_params(fault.model_dump(mode="json"))


class _Realiser:
    """:class:`chaos.model.kinds.CustomRealiser` of the kind; its I/O is in :mod:`chaos.interop.ctk_fault`."""

    def plan(self, fault: Any) -> dict[str, Any]:
        out: dict[str, Any] = fault.model_dump(mode="json", include={"action", "rollback", "ends", "configuration",
                                                                     "secrets"})
        return out

    def describe(self, params: Mapping[str, Any]) -> str:
        return describe_params(params)

    async def inject(self, params: Mapping[str, Any], io: Any) -> dict[str, Any]:
        from chaos.interop import ctk_fault

        return await ctk_fault.inject(params, io)

    async def remove(self, params: Mapping[str, Any], io: Any) -> bool:
        from chaos.interop import ctk_fault

        return await ctk_fault.remove(params, io)

    async def present(self, params: Mapping[str, Any], io: Any) -> bool | None:
        from chaos.interop import ctk_fault

        return ctk_fault.present(params, io)

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        """Why the action or its rollback cannot run on this machine (``aftershock validate``)."""
        from chaos.interop import ctk_fault

        return list(dict.fromkeys(p for key in ("action", "rollback") if isinstance(params.get(key), Mapping)
                                  for p in ctk_fault.provider_problems(params[key])))

    async def preflight(self, params: Mapping[str, Any]) -> list[str]:
        from chaos.interop import ctk_fault

        return ctk_fault.preflight(params)


def _reach(fault: ChaosToolkitFault) -> Reach:
    return reach_of(fault.action)


KIND = FaultKind(name="chaostoolkit", model=ChaosToolkitFault, words="Chaos Toolkit action", describe=_describe,
                 host=HostRealisation(custom=_Realiser()), reach=_reach)
