"""What a kind is: the interfaces a fault kind, a policy action and a probe implement (pure).

A kind is one vertical slice — everything about one ``type:`` of fault, one ``action:`` of policy or
one probe of ``slos[].probe`` — in one module, registered under an entry-point group
(``aftershock.faults``, ``aftershock.actions``, ``aftershock.probes``) and found through
:mod:`chaos.registry`. The product's own kinds (``chaos.faults.*``, ``chaos.actions.*``,
``chaos.probes.*``) are registered in ``pyproject.toml`` exactly as a plugin package registers its
own. docs/extending.md says how to write one.

These are plain frozen dataclasses and Protocols: a kind module builds one (``KIND = FaultKind(...)``)
at import, without I/O; whatever does I/O (a probe's runner, a custom host realiser) imports its
client code inside the functions that run it, so loading every kind stays cheap.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

TargetType = Literal["kubernetes", "host"]


class KindRefused(ValueError):
    """A kind cannot realise this fault as written (raised by a rendering or a host plan);
    the caller reports it as a problem at the fault's path."""


def _no_context(fault: Any, namespace: str) -> Mapping[str, Any]:
    return {}


def _no_patch(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {}


# --------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class KubeRendering:
    """How a fault becomes a Chaos Mesh object on the Kubernetes target.

    The compiler renders ``template`` (a file of the manifests folder) with the common variables
    (``obj`` metadata, ``fault``, ``mode``, ``value``, ``selector``) plus ``context(fault, namespace)``;
    or, with ``build``, takes the object ``build(fault, metadata)`` returns as it is (raw objects).
    Either may raise :class:`KindRefused`. Every object is then checked by ``chaos.compiling.crd_rules``.
    """

    template: str = ""
    context: Callable[[Any, str], Mapping[str, Any]] = _no_context
    build: Callable[[Any, Mapping[str, Any]], dict[str, Any]] | None = None
    shrink: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] = _no_patch
    """``(spec of the live object, shrink parameters) → spec patch`` (empty: nothing of it shrinks)."""


@dataclass(frozen=True)
class KernelEffect:
    """A kernel rule on the host: ``via`` is ``iptables`` (statistic DROP) or ``tc`` (tbf)."""

    via: Literal["iptables", "tc"]
    params: Mapping[str, Any]
    """``percent`` for iptables; ``rate``, ``limit``, ``buffer`` for tc."""
    description: str


@dataclass(frozen=True)
class HostIO:
    """What a custom host realiser is given to do its I/O."""

    run_id: str
    fault: str
    deadline: float
    """Absolute time (epoch seconds) by which the fault must be gone, whatever happens to this process."""
    state_dir: Path
    environ: Mapping[str, str]


class CustomRealiser(Protocol):
    """A fault kind that does its own I/O on the host (a plugin's process, file, service call...).

    ``plan`` is pure and its result is recorded write-ahead, before ``inject`` runs; ``remove`` and
    ``present`` get that record back (also from ``aftershock recover`` in another process, after a
    crash), so they must work from it alone. ``inject`` must bound the fault by ``io.deadline`` itself
    (e.g. a detached watchdog), since the process that injected it may be killed.
    """

    def plan(self, fault: Any) -> dict[str, Any]:
        """JSON-able parameters of the fault (recorded before injection)."""
        ...

    def describe(self, params: Mapping[str, Any]) -> str:
        ...

    def inject(self, params: Mapping[str, Any], io: HostIO) -> Awaitable[dict[str, Any]]:
        """Inject; returns what else removal needs (merged into the record)."""
        ...

    def remove(self, record: Mapping[str, Any], io: HostIO) -> Awaitable[bool]:
        """Remove; True when it was there, False when it was already gone. Idempotent."""
        ...

    def present(self, record: Mapping[str, Any], io: HostIO) -> Awaitable[bool | None]:
        """Whether the fault is still in place (None: cannot tell)."""
        ...


@dataclass(frozen=True)
class HostRealisation:
    """How a fault is realised on the host target.

    ``proxy(fault)`` gives the fault proxy's fault (its ``kind`` — latency, loss, partition, bandwidth,
    reset, http-abort, http-delay — and parameters) when the selector names a proxy;
    ``kernel(fault)`` the iptables/tc rule when the selector names a port or an interface (None: this
    fault cannot use the kernel with that selector). A kind with ``custom`` does its own I/O instead.
    """

    proxy: Callable[[Any], Mapping[str, Any]] | None = None
    kernel: Callable[[Any], KernelEffect | None] | None = None
    custom: CustomRealiser | None = None
    capabilities: tuple[str, ...] = ()
    """Kernel features a kernel realisation needs (``aftershock doctor`` names: net_admin, iptables,
    iptables_statistic, iptables_comment, tc, tc_tbf, tc_netem)."""


@dataclass(frozen=True)
class Reach:
    """What a fault acts on in Kubernetes through its own fields rather than ``selector`` (a Chaos
    Toolkit action's arguments), counted against the blast radius like a Kubernetes fault's selector
    (``chaos.model.checks``); what cannot be counted is said in ``uncounted``."""

    namespaces: tuple[tuple[str, str], ...] = ()
    """``(field path under the fault, namespace)`` of every namespace it acts in."""
    narrowed: bool = True
    """Whether it names what it acts on (labels, names); False: everything of the namespace."""
    mode: str = "one"
    """Chaos Mesh's vocabulary: one, fixed, fixed-percent, random-max-percent, all."""
    value: str = ""
    path: str = ""
    """Field path of the selection under the fault (where a too-wide selection is reported)."""
    what: str = ""
    """What it selects, in words (``1 pod labelled app=web``, ``deployment recommendations``)."""
    uncounted: tuple[str, ...] = ()
    """What it reaches that Aftershock cannot count, in words."""

    def describe(self) -> str:
        """The dry run's words: what is counted, and what is not."""
        parts = []
        if self.namespaces:
            where = ", ".join(dict.fromkeys(ns for _, ns in self.namespaces))
            parts.append(f"blast radius counted: {self.what or 'objects'} in namespace {where}")
        parts += self.uncounted
        return "; ".join(parts) or "blast radius not counted by Aftershock"


@dataclass(frozen=True)
class FaultKind:
    """One fault ``type``: its model, its words, and how each target realises it."""

    name: str
    """What users write as ``type:`` (``network-delay``)."""
    model: type[BaseModel]
    """The pydantic class of the fault: a ``chaos.model.faults.FaultBase`` subclass with
    ``type: Literal[name]``. The model's discriminated union is built from every registered kind."""
    words: str
    """A noun phrase for messages and events (``network delay``)."""
    describe: Callable[[Any], str]
    """One line saying what this fault does (``latency 500ms ± 0ms``): dry runs, events, the TUI."""
    kube: KubeRendering | None = None
    """None: refused on the Kubernetes target."""
    host: HostRealisation | None = None
    """None: refused on the host target."""
    shrinkable: frozenset[str] = frozenset()
    """The ``shrink`` parameters that apply to this kind (percent, latency, jitter, mode, value)."""
    reach: Callable[[Any], Reach] | None = None
    """``fault → Reach``: a kind that selects through its own fields (not ``selector``); what it reaches is
    checked against the blast radius like a Kubernetes fault's selector, on any target."""

    @property
    def targets(self) -> tuple[TargetType, ...]:
        out: list[TargetType] = []
        if self.kube is not None:
            out.append("kubernetes")
        if self.host is not None:
            out.append("host")
        return tuple(out)


# --------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ActionIO:
    """What a plugin action is given to do its I/O."""

    run_id: str
    experiment: str
    decision_id: str
    environ: Mapping[str, str]
    state_dir: Path


def _no_refs(policy: Any) -> list[tuple[str, str]]:
    return []


def _no_problems(policy: Any, path: str, faults: Mapping[str, Any]) -> list[Any]:
    return []


def _nowhere(policy: Any) -> tuple[str, str | None] | None:
    return None


@dataclass(frozen=True)
class ActionKind:
    """One policy ``action``: its policy model, its checks and its words; how it acts.

    The product's own actions (rollback, degrade, circuit-break, shrink, notify, abort) give ``decide``:
    the policy engine's action value for a policy (``chaos.policy.actions``), applied through the
    target's actuators (circuit-break gives none: its breaker decides). A plugin action gives ``apply``
    instead: the executor runs it when the policy fires, records it in the ledger and escalates it
    when it fails, like a ``notify``. A plugin action that changes something to be put back gives
    ``undo`` and ``revert`` too: its undo record is written to the state store *before* ``apply`` runs
    (write-ahead, with the run's undo deadline), and ``revert`` runs from that record alone at the end
    of the run, at the deadline (the undo watchdog, even after a kill -9) or in ``aftershock recover``.
    """

    name: str
    """What users write as ``action:``."""
    model: type[BaseModel]
    """The pydantic class of the policy: a ``chaos.model.policies.PolicyBase`` subclass with
    ``action: Literal[name]`` and its ``with_`` block (``alias="with"``)."""
    words: str
    decide: Callable[[Any, Any], Any] | None = None
    """Built-in actions: ``(policy, decider config) → the policy engine's action value``."""
    apply: Callable[[Any, ActionIO], Awaitable[str]] | None = None
    """Plugin actions: ``(with block, io) → note``; raises ``ChaosError`` when it fails."""
    undo: Callable[[Any], Mapping[str, Any]] | None = None
    """Plugin actions to undo: ``with block → the undo record`` (pure, plain JSON, never a secret: all
    ``revert`` needs, with nothing else), recorded before ``apply`` runs. ``keep: true`` policies are
    not undone."""
    revert: Callable[[Mapping[str, Any], ActionIO], Awaitable[str]] | None = None
    """``(undo record, io) → note``: puts it back; idempotent (it may run for an ``apply`` that never
    happened, or twice); raises ``ChaosError`` when it cannot."""
    fault_refs: Callable[[Any], list[tuple[str, str]]] = _no_refs
    """``policy → [(field path under the policy, fault name)]``: the faults it names (checked to exist)."""
    check: Callable[[Any, str, Mapping[str, Any]], list[Any]] = _no_problems
    """``(policy, its path, the experiment's faults by name) → problems`` (``chaos.errors.Problem``)."""
    escalation_target: bool = True
    """Whether ``escalate.to`` may name this action."""
    acts_in: Callable[[Any], tuple[str, str | None] | None] = _nowhere
    """``policy → (field path under the policy, namespace or None for the target's)`` of the Kubernetes
    objects it changes, or None: checked against the blast radius' namespaces like a fault's selector."""


# --------------------------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class ProbeResult:
    """One observation of a probe: ``ok`` is whether it held."""

    ok: bool
    value: float | None = None
    """A measured value, when there is one (latency in seconds, ready pods...): charted and journaled."""
    detail: str = ""
    """Why it did not hold, in words (``timeout after 1s``, ``status 503``)."""


@dataclass(frozen=True)
class ProbeContext:
    """What a probe runner is given."""

    environ: Mapping[str, str]
    timeout_s: float
    kubeconfig: str | None = None
    kube_context: str | None = None
    namespace: str = "default"


class ProbeRunner(Protocol):
    """A live probe: the monitor calls ``observe`` on the probe's interval, ``aclose`` at the end."""

    async def observe(self) -> ProbeResult:
        ...

    async def aclose(self) -> None:
        ...


@dataclass(frozen=True)
class ProbeKind:
    """One SLO source: ``slos[].probe.<name>`` (an HTTP check, a Kubernetes condition, ...)."""

    name: str
    """The key users write under ``probe:`` (``http``)."""
    model: type[BaseModel]
    """The pydantic class of the block under that key."""
    words: str
    describe: Callable[[Any], str]
    """One line (``GET http://… expects 200``) for dry runs, events and the report."""
    runner: Callable[[Any, ProbeContext], ProbeRunner]
    """``(block, context) → runner``; imports its client code inside (it is called only for a run)."""
    needs: tuple[str, ...] = field(default=())
    """What a run of this probe needs (``prometheus``, ``kubernetes``): pre-flight says so."""


Kind = FaultKind | ActionKind | ProbeKind
