"""Children that die with their parent: the demo's services, fault proxy and Prometheus.

``die_with_parent()`` returns a ``preexec_fn`` that asks Linux (``prctl(PR_SET_PDEATHSIG)``) to
send the child SIGTERM when the thread that spawned it ends — so a SIGKILLed ``aftershock
demo`` does not leave Prometheus or the demo services running. Elsewhere it returns None
(no-op). ``owned_tempdir`` gives their work dirs an owner so leftovers of killed demos are swept.
Used by ``chaos.demo.stack`` and ``chaos.demo.prometheus``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def owned_tempdir(kind: str) -> Path:
    """A fresh ``/tmp/aftershock-<kind>-<pid>-XXXX`` work dir; dirs of dead owners (a SIGKILLed
    demo cannot clean up after itself) are swept first, so they do not pile up."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"aftershock-{kind}-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"aftershock-{kind}-{os.getpid()}-"))


def die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def _arm() -> None:  # runs in the child between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: do what the kernel would have done
            os.kill(os.getpid(), signal.SIGTERM)

    return _arm
