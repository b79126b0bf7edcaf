"""Chaos Toolkit actions of the Aftershock extension (``provider.module: chaos.interop.ctk_actions``).

Faults go through the same targets, write-ahead records and bounds as ``aftershock run``
(:mod:`chaos.interop.ctk_runtime`): recorded before injection, bounded by the thing that injects
them (proxy deadline, kernel-rule watchdog, Chaos Mesh duration + reaper), labelled with the run
id, removable by ``remove_faults`` here or by ``aftershock recover``. Errors reach Chaos Toolkit
as ``ActivityFailed`` with Aftershock's message.

``experiment`` is an Aftershock experiment document (``aftershock export`` puts it in the
configuration as ``aftershock_experiment``); ``settings`` may carry ``kubeconfig``, ``context``
and ``namespace`` for the Kubernetes target.
"""

from __future__ import annotations

from typing import Any

__all__ = ["await_steady_state", "hold_faults", "inject_fault", "recover_orphans", "remove_faults"]


def inject_fault(experiment: dict[str, Any], fault: str, run_id: str, state_dir: str = "",
                 settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inject one fault of ``experiment`` for run ``run_id`` (pre-flight first, as ``aftershock run``)."""
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import load_experiment, runtime, to_activity_error

    try:
        loaded = load_experiment(experiment)
        return runtime().call(runtime().inject(loaded, fault, runtime().run_id(run_id), state_dir or None,
                                               settings or {}))
    except ChaosError as exc:
        raise to_activity_error(exc) from exc


def remove_faults(run_id: str, state_dir: str = "") -> dict[str, Any]:
    """Remove every live fault of run ``run_id`` (idempotent; fails if one could not be removed)."""
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import runtime, to_activity_error

    run_id = runtime().run_id(run_id)
    try:
        result = runtime().call(runtime().remove(run_id, state_dir or None))
    except ChaosError as exc:
        raise to_activity_error(exc) from exc
    if result["failed"]:
        from chaoslib.exceptions import ActivityFailed

        raise ActivityFailed(f"run {run_id}: not removed: " + "; ".join(f"{k}: {v}" for k, v in
                                                                    result["failed"].items())
                             + " (run `aftershock recover`)")
    return result


def recover_orphans(state_dir: str = "") -> dict[str, Any]:
    """Remove faults left by runs that are no longer alive (``aftershock recover`` without options)."""
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import runtime, to_activity_error

    try:
        return runtime().call(runtime().recover_orphans(state_dir or None))
    except ChaosError as exc:
        raise to_activity_error(exc) from exc


def hold_faults(run_id: str, seconds: float, state_dir: str = "") -> dict[str, Any]:
    """Keep the run's faults live for ``seconds``; returns early when they are removed (by the guard
    after a breach, by ``remove_faults`` or by ``aftershock recover``)."""
    from chaos.interop.ctk_runtime import runtime

    return runtime().hold(runtime().run_id(run_id), float(seconds), state_dir or None)


def await_steady_state(experiment: dict[str, Any], timeout: float, prometheus: str = "",
                       secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Wait up to ``timeout`` seconds for the steady-state SLOs to hold (``spec.recovery.timeout``);
    ``secrets``: the Prometheus credentials Chaos Toolkit loaded (``chaos.interop.ctk.SECRETS_SCOPE``)."""
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import load_experiment, runtime, to_activity_error

    try:
        loaded = load_experiment(experiment)
        return runtime().call(runtime().await_steady(loaded, prometheus or None, float(timeout), secrets))
    except ChaosError as exc:
        raise to_activity_error(exc) from exc
