"""``python -m chaos.interop.ctk_watchdog DIR``: the detached guard of one ``chaostoolkit`` fault.

Started in its own session before the CTK action runs (:func:`chaos.interop.ctk_fault.inject`), it
waits until the fault's deadline, then runs the CTK rollback unless Aftershock's removal already
did (the ``rolling-back``/``ended`` claim of :mod:`chaos.interop.ctk_fault`). It outlives a SIGKILL
of the process that injected the fault. What happened is in ``DIR/watchdog.log``.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    directory = Path(argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # removal ran the rollback itself
    params = json.loads((directory / "params.json").read_text())
    deadline = float(params["deadline"])
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 1.0))  # a watchdog's clock: it must act at the deadline with nobody to wake it
    from chaos.interop.ctk_fault import roll_back

    with open(directory / "watchdog.log", "a") as log:
        try:
            ran = roll_back(directory, params)
            log.write(f"{time.time()}: rollback {'ran' if ran else 'already done'} at the deadline\n")
        except Exception as exc:  # written down; `aftershock recover` tries again
            log.write(f"{time.time()}: rollback failed at the deadline: {exc}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
