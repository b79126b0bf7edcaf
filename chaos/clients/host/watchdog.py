"""Detached deadline watchdog for kernel faults: removes exactly one rule at its deadline, on its own.

:func:`arm` is called by :mod:`.iptables` / :mod:`.tc` *before* a rule is added. It starts
``python -m chaos.clients.host.watchdog`` which double-forks into its own session (so it survives
SIGKILL of the process that armed it and is never a zombie of it), reports ``{"armed": true, "pid": N}``
and then sleeps until the deadline, checking now and then whether the rule is already gone (then it
exits early). At the deadline it runs the exact removal argv. :func:`disarm_run` stops the pending
watchdogs of a run after a normal removal (``remove_run``, ``aftershock recover``) so that nothing is
left behind. Pid files live in a directory chosen by the caller.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaos.errors import TargetError

MODULE = "chaos.clients.host.watchdog"
CHECK_EVERY = 2.0
"""Seconds between checks for an already-removed rule (the watchdog then exits early)."""


def pid_file(pid_dir: Path, run_id: str, label: str, pid: int) -> Path:
    return pid_dir / f"{run_id}.{label}.{pid}.pid"


def arm(*, deadline: float, check: list[str], remove: list[str], pid_dir: Path, run_id: str,
        label: str, expect: str = "") -> int:
    """Start a detached watchdog; returns its pid once it is running.

    ``check`` exits 0 (and prints ``expect``) while the rule exists; ``remove`` removes it. Both are
    full argv lists.
    """
    pid_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", MODULE, "--deadline", repr(deadline), "--check", json.dumps(check),
            "--remove", json.dumps(remove), "--pid-dir", str(pid_dir), "--run-id", run_id, "--label", label, "--expect", expect]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                              start_new_session=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"cannot start the deadline watchdog: {exc}") from exc
    try:
        reply = json.loads(done.stdout.splitlines()[0])
        return int(reply["pid"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise TargetError(f"the deadline watchdog did not arm: {done.stderr.strip() or done.stdout!r}") from exc


def _is_watchdog(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return MODULE.encode() in cmdline


def pending(pid_dir: Path, run_id: str | None = None, label: str | None = None) -> list[tuple[Path, int]]:
    """Pid files (and pids) of watchdogs still running, optionally of one run (and fault label).

    Stale pid files (process gone) are deleted on the way.
    """
    found: list[tuple[Path, int]] = []
    for path in sorted(pid_dir.glob("*.pid")) if pid_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            pid, owner, what = int(data["pid"]), str(data["run_id"]), str(data["label"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (run_id is not None and owner != run_id) or (label is not None and what != label):
            continue
        if _is_watchdog(pid):
            found.append((path, pid))
        else:
            path.unlink(missing_ok=True)
    return found


def disarm_run(pid_dir: Path, run_id: str, label: str | None = None) -> int:
    """Terminate the pending watchdogs of ``run_id`` (optionally only ``label``); returns how many."""
    stopped = 0
    for path, pid in pending(pid_dir, run_id, label):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        path.unlink(missing_ok=True)
    return stopped


ABSENT_EXIT = 1
"""The exit code of ``iptables -C`` when the rule does not exist. Any other failure (4: the xtables lock
is held, 2: a usage error, a timeout) says nothing about the rule: it is not taken for "gone"."""
REMOVE_ATTEMPTS = 30
"""At the deadline: removals tried (a second apart) while the check cannot tell or the removal fails."""


def _present(check: list[str], expect: str) -> bool | None:
    """True while the rule exists, False when the check says it does not (exit 0 without ``expect`` in
    its output, or :data:`ABSENT_EXIT`), None when the check could not tell."""
    try:
        done = subprocess.run(check, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode == 0:
        return expect in done.stdout
    return False if done.returncode == ABSENT_EXIT else None


def _watch(args: argparse.Namespace, check: list[str], remove: list[str], me: Path) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    seen = False  # only an exit-early once the rule was seen (it is added after arming)
    try:
        while (left := args.deadline - time.time()) > 0:
            time.sleep(min(left, CHECK_EVERY))  # nothing to await: the deadline is the event
            present = _present(check, args.expect)
            if seen and present is False:
                return 0
            seen = seen or present is True
        for _ in range(REMOVE_ATTEMPTS):
            if _present(check, args.expect) is False:
                break
            try:
                if subprocess.run(remove, capture_output=True, timeout=15, check=False).returncode == 0:
                    break
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(1.0)  # the lock holder (or whatever failed) gets a moment; nothing to await
        return 0
    finally:
        me.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--deadline", type=float, required=True, help="epoch seconds")
    parser.add_argument("--check", required=True, help="JSON argv; exits 0 while the rule exists")
    parser.add_argument("--remove", required=True, help="JSON argv removing exactly the rule")
    parser.add_argument("--pid-dir", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--expect", default="", help="text --check prints while the rule exists")
    args = parser.parse_args(argv)
    check, remove = json.loads(args.check), json.loads(args.remove)
    if not (isinstance(check, list) and isinstance(remove, list)
            and all(isinstance(a, str) for a in check + remove)):
        parser.error("--check and --remove must be JSON lists of strings")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:  # the launcher: report the watchdog's pid once its pid file exists, then exit (no zombie)
        os.close(write_end)
        os.read(read_end, 1)
        print(json.dumps({"armed": True, "pid": pid}), flush=True)
        return 0
    os.close(read_end)
    os.setsid()
    me = pid_file(Path(args.pid_dir), args.run_id, args.label, os.getpid())
    me.write_text(json.dumps({"pid": os.getpid(), "run_id": args.run_id, "label": args.label,
                              "deadline": args.deadline, "remove": remove}))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.write(write_end, b"1")
    os.close(write_end)
    return _watch(args, check, remove, me)


if __name__ == "__main__":
    sys.exit(main())
