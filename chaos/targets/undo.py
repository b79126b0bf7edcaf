"""Undo records of mitigations (degrades, backend weights), so a crashed run's can be reverted.

While a run is live, the driver keeps the run's undo plan in the state store (its own table)
listing every mitigation still in place and how to revert it without the experiment or the
process that applied it: a proxy upstream weight (admin URL + token source), an HTTP revert call,
a Kubernetes patch revert token, a route weight. ``aftershock recover`` executes the plans of
runs that are no longer alive. Each item is a typed, versioned record (:data:`UndoItem`) with one
(de)serialiser (:func:`undo_to_record` / :func:`undo_from_record`, which also reads the records
of the first release and validates every field: a damaged or forged item is refused, the others
of the plan are still undone); ``describe_open`` is pure, ``execute`` does the I/O.

Every item is bounded like a fault: it carries a ``deadline`` (wall time), written with it before
the mitigation is applied — the moment the run's first mitigation was recorded plus the run's own
bound (:func:`undo_window`: the fault window, the recovery wait, the longest ``openFor`` of its
circuit-breaks and a margin), never unbounded. The detached watchdog
(:mod:`chaos.targets.undo_watchdog`) undoes the items whose deadline passed, even after a kill -9
(not before: a mitigation answers a fault that may still be live); ``recover`` undoes dead runs'
plans and any expired item.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_never

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from chaos.clients.state import RECORD_VERSION
from chaos.errors import ActuatorError, StateError
from chaos.policy.actions import Decision
from chaos.policy.ledger import Ledger
from chaos.secrets import to_record

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment

MARGIN_S = 30.0
"""Added to every undo deadline: the run's own reverts (right after its recovery wait) come first."""


@dataclass(frozen=True)
class ProxyWeightUndo:
    """Restore a backend's weight on the fault proxy's admin endpoint."""

    service: str
    weight: int
    proxy: Mapping[str, Any] = field(default_factory=dict)
    """``admin``, ``token_env``, ``token_file`` (never the token itself)."""


@dataclass(frozen=True)
class HttpDegradeUndo:
    """Call the degrade's ``with.revert`` HTTP endpoint."""

    decision_id: str
    call: Mapping[str, Any]
    """The ``HttpCall`` as JSON (method, url, headers, json, ...)."""


@dataclass(frozen=True)
class KubeDegradeUndo:
    """Put a patched ConfigMap/Deployment back (``RevertToken`` as JSON)."""

    token: Mapping[str, Any]
    kube: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KubeWeightUndo:
    """Restore a route weight (HTTPRoute/VirtualService) of a service."""

    namespace: str
    service: str
    weight: int
    kube: Mapping[str, Any] = field(default_factory=dict)
    snapshot: Mapping[str, Any] | None = None
    """The routes' weights as they were before the breaker (``WeightSnapshot`` as JSON): restored
    exactly, an absent weight absent again. Records without it fall back to ``weight``."""


@dataclass(frozen=True)
class PluginUndo:
    """Revert a plugin action (its ``ActionKind.revert``) from the record its ``undo`` gave."""

    action: str
    decision_id: str
    record: Mapping[str, Any]
    experiment: str = ""


UndoItem = ProxyWeightUndo | HttpDegradeUndo | KubeDegradeUndo | KubeWeightUndo | PluginUndo
_KINDS: dict[str, type[UndoItem]] = {"proxy-weight": ProxyWeightUndo, "http-degrade": HttpDegradeUndo,
                                     "kube-degrade": KubeDegradeUndo, "kube-weight": KubeWeightUndo,
                                     "plugin": PluginUndo}


@functools.cache
def _validator(kind: str) -> type[BaseModel]:
    """A strict pydantic model of one record kind's fields (built on first use: start-up never pays
    for it): a weight is an int, not ``"0"`` or ``true``; a proxy a mapping, not a string."""
    cls = _KINDS[kind]
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    return create_model(f"{cls.__name__}Record", __config__=ConfigDict(strict=True, extra="ignore"), **fields)


def undo_window(experiment: Experiment) -> float:
    """Seconds an undo item may stay in place after the run's first mitigation: the fault window,
    the recovery wait, the longest ``openFor`` of the run's circuit-breaks and :data:`MARGIN_S`."""
    from chaos.model.durations import parse_duration

    spec = experiment.spec
    holds = [parse_duration(str(getattr(p.with_, "open_for", "0s") or "0s")) for p in spec.policies
             if p.action == "circuit-break"]
    return spec.fault_window_s + spec.recovery.timeout_s + max(holds, default=0.0) + MARGIN_S


def undo_to_record(item: UndoItem, deadline: float | None = None) -> dict[str, Any]:
    """The stored form: ``{"v": 1, "kind": ..., "deadline": <wall time>, <fields>}``."""
    kind = next(k for k, cls in _KINDS.items() if isinstance(item, cls))
    out: dict[str, Any] = {"v": RECORD_VERSION, "kind": kind}
    if deadline is not None:
        out["deadline"] = float(deadline)
    for name in item.__dataclass_fields__:
        value = getattr(item, name)
        out[name] = dict(value) if isinstance(value, Mapping) else value
    return out


def record_deadline(record: Mapping[str, Any]) -> float | None:
    """The item's deadline (None: a record of a release before deadlines). Raises StateError when it
    is not a finite positive number (a damaged or forged record)."""
    value = record.get("deadline")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise StateError(f"undo record {record.get('kind')!r} has an invalid deadline {value!r}")
    return float(value)


def expired(record: Mapping[str, Any], now: float) -> bool:
    """Whether the item's deadline has passed (a record without one never expires by itself;
    ``recover`` still undoes it once its run is dead)."""
    deadline = record_deadline(record)
    return deadline is not None and deadline <= now


def undo_from_record(record: Mapping[str, Any]) -> UndoItem:
    """Read a stored undo item of any record version (version 0: the same keys, no ``"v"``), every
    field validated (types, no missing field, a valid deadline): raises StateError otherwise."""
    version = record.get("v", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise StateError(f"an undo record has an invalid record version {version!r}")
    if version > RECORD_VERSION:
        raise StateError(f"an undo record of version {version} was written by a newer Aftershock")
    kind = str(record.get("kind"))
    cls = _KINDS.get(kind)
    if cls is None:
        raise StateError(f"unknown undo record {record.get('kind')!r}")
    record_deadline(record)
    try:
        checked = _validator(kind).model_validate(dict(record))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"undo record {kind!r} is damaged: {where}: {first['msg']} "
                         f"({exc.error_count()} problem(s))") from None
    return cls(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(cls)})


def describe(item: UndoItem) -> str:
    match item:
        case ProxyWeightUndo() | KubeWeightUndo():
            return f"{undo_to_record(item)['kind']} {item.service}"
        case HttpDegradeUndo():
            return f"http-degrade {item.decision_id}"
        case KubeDegradeUndo():
            return f"kube-degrade {item.token.get('kind', '')} {item.token.get('name', '')}".rstrip()
        case PluginUndo():
            return f"{item.action} {item.decision_id}"
        case _:
            assert_never(item)


def describe_open(ledger: Ledger, *, default_proxy: Mapping[str, Any] | None, namespace: str,
                  kube: Mapping[str, Any] | None = None) -> list[UndoItem]:
    """Undo records of every open, not-kept degrade and weight of ``ledger``."""
    items: list[UndoItem] = []
    for entry in ledger.entries:
        if not entry.open or entry.keep:
            continue
        if entry.kind == "weight" and entry.weight_target is not None and entry.original_weight is not None:
            wt = entry.weight_target
            if kube is not None:
                ns = wt.namespace or namespace
                items.append(KubeWeightUndo(namespace=ns, service=wt.service, weight=entry.original_weight,
                                            snapshot=(kube.get("weights") or {}).get(f"{ns}/{wt.service}"),
                                            kube={k: v for k, v in kube.items() if k != "weights"}))
            else:
                proxy = {"admin": wt.admin, "token_env": wt.token_env, "token_file": wt.token_file}
                if wt.admin is None and default_proxy is not None:
                    proxy = {k: default_proxy.get(k) for k in ("admin", "token_env", "token_file")}
                items.append(ProxyWeightUndo(service=wt.service, weight=entry.original_weight, proxy=proxy))
        elif entry.kind == "degrade" and entry.handle is not None and entry.handle.payload is not None:
            handle = entry.handle
            if handle.backend == "http":
                payload = handle.payload
                # headers are secrets: recorded as their recipe (the template as written), never their value
                call = (to_record(payload.model_dump(by_alias=True, round_trip=True))
                        if hasattr(payload, "model_dump") else payload)
                items.append(HttpDegradeUndo(decision_id=handle.decision_id, call=call))
            elif handle.backend == "kubernetes":
                items.append(KubeDegradeUndo(token=handle.payload, kube=dict(kube or {})))
    return items


def write_ahead(decision: Decision, experiment: str = "") -> list[UndoItem]:
    """Undo items of a decision *before* it is applied: an HTTP degrade's revert call, a plugin
    action's undo record. Recorded first (like a fault), so a run killed mid-call still has it
    reverted by ``recover``; reverts must therefore be idempotent (one may run for a degrade that
    never reached its endpoint)."""
    from chaos import registry
    from chaos.policy.actions import Degrade, PluginAction

    action = decision.action
    if isinstance(action, Degrade) and action.http is not None and action.revert is not None:
        call = to_record(action.revert.model_dump(by_alias=True, round_trip=True))
        return [HttpDegradeUndo(decision_id=decision.id, call=call)]
    if isinstance(action, PluginAction) and not decision.keep:
        kind = registry.actions.get(action.action)
        if kind is not None and kind.undo is not None and kind.revert is not None:
            try:
                record = dict(kind.undo(action.with_))
            except Exception as exc:  # a plugin's own bug: the action is not applied without its undo
                raise ActuatorError(f"action {action.action}: its undo record cannot be made: "
                                    f"{type(exc).__name__}: {exc}") from exc
            return [PluginUndo(action=action.action, decision_id=decision.id, record=to_record(record),
                               experiment=experiment)]
    return []


async def execute(item: UndoItem, environ: Mapping[str, str], run_id: str = "", *,
                  state_dir: Path | None = None) -> str:
    """Revert one recorded mitigation of run ``run_id``. Raises a ChaosError when it cannot."""
    match item:
        case ProxyWeightUndo():
            from chaos.clients.host.admin_client import ProxyAdminClient
            from chaos.targets.host import record_token

            if not item.proxy.get("admin"):
                raise ActuatorError(f"no admin endpoint recorded for the weight of {item.service}")
            token = record_token(item.proxy, environ)  # only to a listener of ours on this host
            async with ProxyAdminClient(str(item.proxy["admin"]), token) as admin:
                # the run's hold ends: the weight comes back only if no newer hold (another run's
                # overlapping circuit-break) sits above it; a proxy without the hold gets the old weight
                now = await admin.release_weight(item.service, run_id) if run_id else None
                if now is None:
                    await admin.set_weight(item.service, item.weight)
                elif now != item.weight:
                    return f"weight of {item.service} left at {now}: a newer circuit-break still holds it"
            return f"weight of {item.service} restored to {item.weight}"
        case HttpDegradeUndo():
            from chaos.clients.http import HttpActuator
            from chaos.clients.record_trust import check_credential_url
            from chaos.loading import from_record
            from chaos.model.policies import HttpCall
            from chaos.secrets import is_recorded_secret

            if _holds_secret(item.call, is_recorded_secret):  # a record never chooses where a credential goes
                check_credential_url(str(item.call.get("url", "")), environ, f"revert of degrade {item.decision_id}")
            try:
                call = HttpCall.model_validate(from_record(dict(item.call), environ))
            except ValidationError as exc:
                raise ActuatorError(f"the recorded revert of degrade {item.decision_id} is not a valid HTTP call "
                                    f"({exc.error_count()} problem(s)); revert it by hand") from exc
            async with HttpActuator() as http:
                await http.call(call, f"revert of degrade {item.decision_id}")
            return f"degrade {item.decision_id} reverted ({item.call.get('method')} {item.call.get('url')})"
        case KubeDegradeUndo() | KubeWeightUndo():
            from chaos.clients.kube import KubeClient, RevertToken, WeightSnapshot
            from chaos.clients.record_trust import check_kubeconfig
            from chaos.targets.kubernetes import kube_settings

            kube = item.kube
            check_kubeconfig(kube.get("kubeconfig"))  # a record never chooses which exec plugin runs
            target = KubeClient.from_settings(kube_settings(kube.get("kubeconfig"), kube.get("context"),
                                                                  kube.get("namespace")))
            try:
                if isinstance(item, KubeDegradeUndo):
                    revert_token = RevertToken.from_dict(dict(item.token))
                    await target.revert(revert_token)
                    return f"{revert_token.kind} {revert_token.namespace}/{revert_token.name} reverted"
                if item.snapshot:  # the routes exactly as they were (absent weights absent again)
                    snapshot = WeightSnapshot.from_dict(dict(item.snapshot))
                    await target.restore_weights(snapshot)
                    return (f"route weights of {item.namespace}/{item.service} restored exactly "
                            f"({len(snapshot.changes)} entries)")
                await target.set_backend_weight(item.namespace, item.service, item.weight)
                return f"route weight of {item.namespace}/{item.service} restored to {item.weight}"
            finally:
                await target.close()
        case PluginUndo():
            return await _revert_plugin(item, environ, run_id, state_dir)
        case _:
            assert_never(item)


def _holds_secret(data: Any, is_secret: Callable[[Any], bool]) -> bool:
    if is_secret(data):
        return True
    if isinstance(data, Mapping):
        return any(_holds_secret(v, is_secret) for v in data.values())
    if isinstance(data, list):
        return any(_holds_secret(v, is_secret) for v in data)
    return False


def credential_hosts(experiment: Experiment) -> list[str]:
    """``host:port`` of every HTTP degrade revert of ``experiment`` that carries headers: where the
    run's undo watchdog may send the credentials its records name (set as its
    ``AFTERSHOCK_ALLOW_CREDENTIALS_TO`` by the run, from the experiment it holds, not from a record)."""
    from chaos.clients.record_trust import host_key
    from chaos.model.policies import DegradeWith

    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, DegradeWith):
            if value.revert is not None and value.revert.headers:
                found.add(host_key(str(value.revert.url)))
            return
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(experiment.spec.policies)
    return sorted(found)


async def _revert_plugin(item: PluginUndo, environ: Mapping[str, str], run_id: str, state_dir: Path | None) -> str:
    from chaos import registry
    from chaos.errors import ChaosError
    from chaos.model.kinds import ActionIO

    kind = registry.actions.get(item.action)
    if kind is None or kind.revert is None:
        raise ActuatorError(f"the action kind {item.action!r} (with a revert) is not installed here: install its "
                            f"package, or revert decision {item.decision_id} by hand ({dict(item.record)})")
    io = ActionIO(run_id=run_id, experiment=item.experiment, decision_id=item.decision_id, environ=environ,
                  state_dir=state_dir if state_dir is not None else Path("."))
    try:
        return await kind.revert(dict(item.record), io)
    except ChaosError:
        raise
    except Exception as exc:  # a plugin's own bug: said, the item kept for the next try
        origin = registry.actions.origin(item.action)
        by = f" ({origin.distribution})" if origin is not None else ""
        raise ActuatorError(f"revert of {item.action}{by} failed: {type(exc).__name__}: {exc}") from exc
