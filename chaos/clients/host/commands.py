"""Runs system commands (iptables, tc, ip) as argv lists, optionally inside a network namespace.

Used by :mod:`.iptables`, :mod:`.tc` and :mod:`.capabilities`. Never a shell string; a missing binary
becomes :class:`chaos.errors.CapabilityMissing`, a failing command :class:`chaos.errors.TargetError`
carrying its stderr.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from chaos.errors import CapabilityMissing, TargetError

COMMAND_TIMEOUT = 15.0


class CommandFailed(TargetError):
    """A command exited non-zero; ``stderr`` says why."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"`{' '.join(argv)}` failed ({returncode}): {stderr.strip() or 'no message'}")


@dataclass(frozen=True)
class Runner:
    """Runs argv lists; with ``netns`` set, each inside ``ip netns exec <netns>``."""

    netns: str | None = None

    def argv(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else list(command)

    def run(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        full = self.argv(command)
        if shutil.which(full[0]) is None:
            raise CapabilityMissing(f"`{full[0]}` is not installed (needed for `{' '.join(command)}`)")
        try:
            done = subprocess.run(full, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise TargetError(f"`{' '.join(full)}` could not run: {exc}") from exc
        if check and done.returncode != 0:
            raise CommandFailed(full, done.returncode, done.stderr)
        return done

    def ok(self, command: list[str]) -> bool:
        """Whether ``command`` exits 0 (missing binary: False)."""
        try:
            return self.run(command, check=False).returncode == 0
        except (CapabilityMissing, TargetError):
            return False
