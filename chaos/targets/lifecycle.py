"""The one fault lifecycle: record → inject → present → remove, over a :class:`~chaos.targets.base.RunTarget`.

Every caller that puts a fault somewhere or takes one away goes through here: the engine driver,
the Chaos Toolkit runtime (``chaos.interop.ctk_runtime``, and its guard through it), ``aftershock
recover`` (:mod:`chaos.targets.recovery`) and ``aftershock status`` (:func:`present_recorded`). So
the write-ahead rule (the record is committed before the fault exists), the retry policy and
what "removed" means are written once:

* :func:`inject_fault` records the planned realisation, injects, then records what was injected
  (``failed`` when injection raised, so ``recover`` still removes a half-made fault);
* :func:`remove_fault` removes one fault with :func:`retrying` and marks it removed;
* removal answers a typed :data:`Removal` — :class:`Removed` or :class:`AlreadyGone` — never
  prose to search (both are also their words, a ``str``, for journals and messages);
* :func:`retrying` is the one retry policy (tenacity): transient errors
  (:attr:`chaos.errors.ChaosError.transient`) are tried again with exponential backoff, permanent
  ones are raised at once.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.errors import ChaosError

if TYPE_CHECKING:
    from tenacity import AsyncRetrying

    from chaos.clients.kube import KubeClient
    from chaos.clients.state import StateStore
    from chaos.targets.base import Realisation, RunTarget

REMOVE_ATTEMPTS = 4
"""Tries of one removal (transient errors only)."""


class Removal(str):
    """What removing one fault did: its words (a ``str``) and, by its type, whether it was there."""

    __slots__ = ()


class Removed(Removal):
    """The fault was there and is removed now."""

    __slots__ = ()


class AlreadyGone(Removal):
    """The fault was no longer there (its proxy, rule or object gone): nothing to remove."""

    __slots__ = ()


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ChaosError) and exc.transient


def retrying(attempts: int = REMOVE_ATTEMPTS, *, multiplier: float = 0.2, max_wait: float = 2.0) -> AsyncRetrying:
    """The one retry policy: transient ChaosErrors only, exponential backoff, the last error re-raised."""
    from tenacity import (  # only on removal
        AsyncRetrying,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential,
    )

    return AsyncRetrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=multiplier, max=max_wait),
                         retry=retry_if_exception(_transient), reraise=True)


def record_fault(store: StateStore, target: RunTarget, run_id: str, fault: str, fault_type: str,
                 deadline: float) -> Realisation:
    """Step 1, write-ahead: commit the planned realisation of ``fault`` before it exists anywhere."""
    planned = target.planned_realisation(fault, deadline)
    store.record_fault(run_id, fault, fault_type, dict(planned), deadline)
    return planned


async def inject_recorded(store: StateStore, target: RunTarget, run_id: str, fault: str,
                          deadline: float) -> Realisation:
    """Step 2: inject a recorded fault; its record says ``injected`` (with how) or ``failed`` (what
    failed half-way is still removed by ``recover``) and the error is re-raised."""
    try:
        realisation = await target.inject(fault, deadline)
    except BaseException:
        store.update_fault(run_id, fault, "failed")
        raise
    store.update_fault(run_id, fault, "injected", realisation)
    return realisation


async def inject_fault(store: StateStore, target: RunTarget, run_id: str, fault: str, fault_type: str,
                       deadline: float, *, before_inject: Callable[[], None] | None = None) -> Realisation:
    """Steps 1 and 2 at once (the Chaos Toolkit runtime); returns the realisation."""
    record_fault(store, target, run_id, fault, fault_type, deadline)
    if before_inject is not None:
        before_inject()
    return await inject_recorded(store, target, run_id, fault, deadline)


async def remove_fault(store: StateStore, run_id: str, fault: str,
                       remove: Callable[[], Awaitable[Removal]]) -> Removal:
    """Remove one recorded fault with the retry policy and mark it removed; raises the last error."""
    result: Removal = AlreadyGone("")
    async for attempt in retrying():
        with attempt:
            result = await remove()
    store.update_fault(run_id, fault, "removed")
    return result


class RemovalPass:
    """What one pass over many records (``recover``, a run's pre-flight recovery) shares, so that a
    hundred leftovers cost little more than one: each proxy admin endpoint's listener check done
    once (:class:`~chaos.clients.record_trust.AdminChecks`), one Kubernetes client per recorded
    kubeconfig/context/namespace (loading a kubeconfig parses its YAML; ~30 ms each). ``close()``
    at the end of the pass."""

    def __init__(self) -> None:
        from chaos.clients.record_trust import AdminChecks

        self.admin_checks = AdminChecks()
        self.kube_clients: dict[tuple[str | None, str | None, str | None], KubeClient] = {}

    async def close(self) -> None:
        clients, self.kube_clients = list(self.kube_clients.values()), {}
        for client in clients:
            await client.close()


async def remove_recorded(realisation: Mapping[str, Any], state_dir: Path,
                          environ: Mapping[str, str] | None = None, shared: RemovalPass | None = None) -> Removal:
    """Remove one recorded fault of any kind from its record alone (idempotent); ``shared``: what the
    pass over many records it is part of shares."""
    from chaos.targets import silences

    if realisation.get("kind") == silences.KIND:
        return await silences.expire(realisation, environ)
    if realisation.get("kind") == "kubernetes":
        from chaos.targets.kubernetes import remove_kube_realisation

        return await remove_kube_realisation(realisation, shared.kube_clients if shared else None)
    from chaos.targets.host import remove_realisation

    return await remove_realisation(realisation, state_dir, environ,
                                    checks=shared.admin_checks if shared else None)


async def present_recorded(realisation: Mapping[str, Any], state_dir: Path,
                           environ: Mapping[str, str] | None = None) -> bool | None:
    """Whether the injector of a recorded host fault still has it (None: cannot tell for this kind).
    Raises the ChaosError that kept it from asking (``status`` shows why)."""
    from chaos.targets.host import present_realisation

    return await present_realisation(realisation, state_dir, os.environ if environ is None else environ)
