"""Children that die with their parent: the demo's services, fault proxy and Prometheus.

``die_with_parent()`` returns a ``preexec_fn`` that asks Linux (``prctl(PR_SET_PDEATHSIG)``) to
send the child SIGTERM when the thread that spawned it ends — so a SIGKILLed ``aftershock
demo`` does not leave Prometheus or the demo services running. Elsewhere it returns None
(no-op). Used by ``chaos.demo.stack`` and ``chaos.demo.prometheus``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


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
