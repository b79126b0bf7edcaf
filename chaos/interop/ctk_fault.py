"""The I/O of the ``chaostoolkit`` fault kind (:mod:`chaos.interop.ctk_fault_kind`): a CTK action run
through chaoslib as the inject, its CTK rollback as the removal — bounded, recoverable.

Per fault, a directory ``<state dir>/chaostoolkit/<run>-<fault>/`` (0700) that only this module
names (from the run id and the fault name: a record never chooses a path):

* ``params.json`` — what the engine already recorded write-ahead (action, rollback, configuration,
  secret *references*) plus the deadline;
* ``watchdog.pid`` — a detached process (own session: it survives SIGKILL of Aftershock) that runs
  the rollback at the deadline (:mod:`chaos.interop.ctk_watchdog`), armed **before** the action runs;
* ``rolling-back`` / ``ended`` — who runs the rollback: the first to create ``rolling-back``
  (``O_EXCL``) runs it; ``ended`` once it succeeded (a failed rollback releases the claim, so
  ``aftershock recover`` can try again).

The rollback runs from Aftershock's removal (the deadline, a policy, an abort), from the watchdog at
the deadline, or from ``aftershock recover`` after a crash — exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaos.errors import PreflightRefused, TargetError

PACKAGES = {"chaosk8s": "chaostoolkit-kubernetes", "chaosaws": "chaostoolkit-aws", "chaosazure": "chaostoolkit-azure",
            "chaosgcp": "chaostoolkit-google-cloud-platform", "chaosprometheus": "chaostoolkit-prometheus",
            "chaostoxi": "chaostoolkit-toxiproxy", "chaosspring": "chaostoolkit-spring",
            "chaosistio": "chaostoolkit-istio", "chaosaddons": "chaostoolkit-addons", "chaoslib": "chaostoolkit-lib",
            "chaosdatadog": "chaostoolkit-datadog", "chaosgrafana": "chaostoolkit-grafana",
            "chaoscf": "chaostoolkit-cloud-foundry", "chaosreliably": "chaostoolkit-reliably"}
"""Top-level module of a CTK driver → the package that provides it (as ``chaos discover`` names them)."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def fault_dir(state_dir: Path, run_id: str, fault: str) -> Path:
    return Path(state_dir) / "chaostoolkit" / _SAFE.sub("_", f"{run_id}-{fault}")


def package_of(module: str) -> str:
    top = module.split(".")[0]
    return PACKAGES.get(top, f"the package providing {top}")


# ------------------------------------------------------------------------ pre-flight (also validate)


def provider_problems(activity: Mapping[str, Any]) -> list[str]:
    """Why this activity's provider cannot run here (empty: it can)."""
    provider = activity.get("provider") or {}
    kind = provider.get("type")
    if kind == "python":
        module = str(provider.get("module"))
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return [f"{module} is not importable: it is provided by {package_of(module)} "
                    f"(pip install {package_of(module)})"]
    if kind == "process":
        path = str(provider.get("path"))
        if shutil.which(path) is None:
            return [f"process {path!r} is not on PATH"]
    return []


def preflight(params: Mapping[str, Any]) -> list[str]:
    """Checks passed; raises PreflightRefused naming what is missing (a module and its package, a program)."""
    problems: list[str] = []
    checks: list[str] = []
    for key in ("action", "rollback"):
        activity = params.get(key)
        if not isinstance(activity, Mapping):
            continue
        found = provider_problems(activity)
        problems += found
        provider = activity.get("provider") or {}
        if not found and provider.get("type") == "python":
            checks.append(f"{provider.get('module')} importable ({package_of(str(provider.get('module')))})")
        if provider.get("type") == "process":
            checks.append(f"runs process {provider.get('path')!r} on this host")
    if problems:
        raise PreflightRefused("a Chaos Toolkit provider cannot run here", problems)
    return checks


# ------------------------------------------------------------------------ running CTK activities


def run_ctk(activity: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    """Run one CTK activity through chaoslib with the configuration and secrets it carries."""
    from chaoslib.activity import run_activity
    from chaoslib.configuration import load_configuration
    from chaoslib.exceptions import ChaosException
    from chaoslib.secret import load_secrets

    try:
        configuration = load_configuration(dict(params.get("configuration") or {}))
        secrets = load_secrets(dict(params.get("secrets") or {}), configuration)
        return run_activity(dict(activity), configuration, secrets)
    except ChaosException as exc:
        raise TargetError(f"Chaos Toolkit {activity.get('name')}: {exc}") from exc


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def claim(directory: Path) -> bool:
    """Take the right to run the rollback (False: someone else has, or it already ran)."""
    if (directory / "ended").exists():
        return False
    try:
        os.close(os.open(directory / "rolling-back", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def roll_back(directory: Path, params: Mapping[str, Any]) -> bool:
    """Run the rollback once (True: this call ran it). A failure releases the claim and raises."""
    if not claim(directory):
        return False
    try:
        run_ctk(params["rollback"], params)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            (directory / "rolling-back").unlink()
        raise
    _write(directory / "ended", f"{time.time()}\n")
    return True


def _watchdog_pid(directory: Path) -> int | None:
    try:
        pid = int((directory / "watchdog.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    ours = b"chaos.interop.ctk_watchdog" in cmdline and str(directory).encode() in cmdline
    return pid if ours else None


def _stop_watchdog(directory: Path) -> None:
    pid = _watchdog_pid(directory)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


async def inject(params: Mapping[str, Any], io: Any) -> dict[str, Any]:
    directory = fault_dir(io.state_dir, io.run_id, io.fault)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    _write(directory / "params.json", json.dumps({**params, "deadline": io.deadline}))
    extra: dict[str, Any] = {}
    if params.get("ends") == "rollback":
        # armed before the action runs: whatever happens to this process, the rollback runs at the deadline
        proc = subprocess.Popen([sys.executable, "-m", "chaos.interop.ctk_watchdog", str(directory)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, env=dict(io.environ), close_fds=True)
        _write(directory / "watchdog.pid", f"{proc.pid}\n")
        extra["watchdog_pid"] = proc.pid
    await asyncio.to_thread(run_ctk, params["action"], params)
    return extra


async def remove(params: Mapping[str, Any], io: Any) -> bool:
    """Run the rollback (True: this call ran it; False: nothing to undo, or it already ran)."""
    if params.get("ends") != "rollback":
        return False  # instantaneous / self-bounded: nothing of ours to undo
    directory = fault_dir(io.state_dir, io.run_id, io.fault)
    if not directory.exists():
        # recorded but never injected (crash between the record and the action): nothing to undo
        return False
    _stop_watchdog(directory)
    return await asyncio.to_thread(roll_back, directory, params)


def present(params: Mapping[str, Any], io: Any) -> bool | None:
    if params.get("ends") != "rollback":
        return None
    directory = fault_dir(io.state_dir, io.run_id, io.fault)
    if not directory.exists():
        return None
    return not (directory / "ended").exists()
