"""``python -m chaos.targets.undo_watchdog``: the detached guard of one run's undo plan.

:func:`arm` is called by the driver when the run's first mitigation is recorded (write-ahead, before
it is applied). The watchdog forks into its own session (it outlives a SIGKILL of the run and is
never a zombie of it) and watches the run's undo plan in the state store: at each item's deadline
(:func:`chaos.targets.undo.undo_window`) it undoes the item through the same
:func:`chaos.targets.undo.execute` as ``aftershock recover`` and writes what is left back to the
plan. Only at the deadline, not as soon as the run dies: a mitigation answers a fault, and undoing
it while a crashed run's fault is still live (until its own deadline or ``recover``) would hurt
the service; by the undo deadline every fault of the run is past its own. It exits once the plan
is done (the run, or ``recover``, reverted everything: both stop it through its pid file, see
:func:`disarm_run`) or after :data:`ATTEMPTS` failed tries (then ``recover`` reports the rest).
What happened is in ``<state dir>/watchdogs/undo-<run>.log``. Like the kernel rules' watchdog
(:mod:`chaos.clients.host.watchdog`) and the Chaos Toolkit fault's (:mod:`chaos.interop.ctk_watchdog`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chaos.errors import ChaosError, TargetError

MODULE = "chaos.targets.undo_watchdog"
CHECK_EVERY = 1.0
"""Seconds between looks at the plan and the run's liveness."""
ATTEMPTS = 30
"""Tries (one per :data:`CHECK_EVERY`) of an item that cannot be undone before the watchdog gives up."""


def log_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "watchdogs" / f"undo-{run_id}.log"


def pid_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "watchdogs" / f"undo-{run_id}.pid"


def arm(state_dir: Path, run_id: str, credential_hosts: Sequence[str] = ()) -> int:
    """Start the detached watchdog of ``run_id``'s undo plan; returns its pid once it runs.

    ``credential_hosts``: where its records' credentials may go (the run's experiment names them:
    :func:`chaos.targets.undo.credential_hosts`), given in its environment at start, never read back."""
    from chaos.clients.record_trust import ALLOWED_HOSTS

    argv = [sys.executable, "-m", MODULE, "--state-dir", str(state_dir), "--run-id", run_id]
    env = {k: v for k, v in os.environ.items() if k != ALLOWED_HOSTS}
    if credential_hosts:
        env[ALLOWED_HOSTS] = ",".join(credential_hosts)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                              start_new_session=True, stdin=subprocess.DEVNULL, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"cannot start the undo watchdog: {exc}") from exc
    try:
        return int(json.loads(done.stdout.splitlines()[0])["pid"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise TargetError(f"the undo watchdog did not arm: {done.stderr.strip() or done.stdout!r}") from exc


def disarm_run(state_dir: Path, run_id: str) -> bool:
    """Stop the watchdog of ``run_id``'s plan (its plan is done) → whether one was running."""
    path = pid_path(state_dir, run_id)
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return False
    path.unlink(missing_ok=True)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if MODULE.encode() not in cmdline or run_id.encode() not in cmdline:
        return False  # the pid was reused by another process: never signalled
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return True


async def _pass(state_dir: Path, run_id: str, failures: dict[str, int], log: Callable[[str], None]) -> bool:
    """One look at the plan: undo what is due. True while there is something left to watch.

    Each line goes to ``log`` as it happens, before the plan is written back: whoever sees the
    plan change (and disarms this watchdog) finds the reason already in the log."""
    from chaos.clients.state import StateStore
    from chaos.targets.undo import describe, execute, expired, undo_from_record

    store = StateStore(state_dir)
    try:
        plan = next((p for p in store.undo_plans() if p.run_id == run_id), None)
        if plan is None:
            return False  # done: the run reverted everything itself (or recover did)
        now = time.time()
        left: list[dict[str, object]] = []
        changed = False
        for record in plan.items:
            key = json.dumps(record, sort_keys=True, default=str)
            try:
                item = undo_from_record(record)
                due = expired(record, now)
            except ChaosError as exc:  # a damaged item: never acted on, kept for recover to report
                log(f"skipping a damaged item: {exc}")
                left.append(record)
                failures[key] = ATTEMPTS
                continue
            if not due or failures.get(key, 0) >= ATTEMPTS:
                left.append(record)
                continue
            try:
                detail = await execute(item, os.environ, run_id, state_dir=state_dir)
            except ChaosError as exc:
                failures[key] = failures.get(key, 0) + 1
                log(f"undo of {describe(item)} failed ({failures[key]}/{ATTEMPTS}): {exc}")
                left.append(record)
                continue
            changed = True
            log(f"deadline passed: {detail}")
        if changed:
            store.record_undo(run_id, left)
        return any(failures.get(json.dumps(r, sort_keys=True, default=str), 0) < ATTEMPTS for r in left)
    finally:
        store.close()


def _watch(state_dir: Path, run_id: str) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    failures: dict[str, int] = {}
    path = log_path(state_dir, run_id)

    def log(line: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(f"{time.time():.3f} {line}\n")

    while True:
        try:
            going = asyncio.run(_pass(state_dir, run_id, failures, log))
        except ChaosError as exc:  # the store cannot be read right now: try again
            log(f"cannot read the undo plan: {exc}")
            going = True
        if not going:
            return 0
        time.sleep(CHECK_EVERY)  # a watchdog's clock: it must act at the deadline with nobody to wake it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    (args.state_dir / "watchdogs").mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.fork()
    if pid:  # the parent reports the watchdog's pid and exits (reaped by whoever armed it)
        fd = os.open(pid_path(args.state_dir, args.run_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(pid))
        print(json.dumps({"armed": True, "pid": pid}), flush=True)
        return 0
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        code = _watch(args.state_dir, args.run_id)
    except SystemExit as stop:  # SIGTERM: disarmed
        code = stop.code if isinstance(stop.code, int) else 0
    except Exception:  # a detached process: nothing to report to but its log
        code = 1
    with contextlib.suppress(OSError, ValueError):
        if int(pid_path(args.state_dir, args.run_id).read_text()) == os.getpid():
            pid_path(args.state_dir, args.run_id).unlink()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
