"""The one error tree of Aftershock.

Every failure that reaches a user is a :class:`ChaosError` subclass. I/O adapters in
``chaos.clients`` translate library exceptions (kubernetes ``ApiException``, httpx,
subprocess, sqlite) into these at the boundary with ``raise ... from exc``; the CLI
(``chaos.cli``) maps them to a message and an exit code. Nothing else prints tracebacks.

Each class says whether trying again can help (:attr:`ChaosError.transient`): the one retry policy
(:func:`chaos.targets.lifecycle.retrying`) retries transient errors only — a target that did not
answer (:class:`TargetUnreachable`) or failed an operation (:class:`TargetError`) — never a
permanent one (bad input, a refused pre-flight, a missing capability or permission, a target
that refused the request, a state or record problem).
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.secrets import scrub


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, precise enough to fix without reading code."""

    message: str
    """What is wrong and what was expected."""
    path: str = ""
    """Field path inside the document, e.g. ``spec.faults[0].latency``."""
    file: str = ""
    """The file the problem is in ("" for command-line input)."""
    line: int | None = None
    """1-based line number where the YAML parser knows it."""
    hint: str = ""
    """How to fix it (e.g. a "did you mean" suggestion)."""
    column: int | None = None
    """1-based column where the YAML parser knows it (syntax errors)."""

    def render(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return scrub(text)

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "path": self.path,
                "message": scrub(self.message), "hint": scrub(self.hint)}


class ChaosError(Exception):
    """Base of every error Aftershock reports to a user. Its text is scrubbed of secrets
    (:func:`chaos.secrets.scrub`) whenever it is rendered."""

    exit_code: int = 3
    verdict: str = "error"
    transient: bool = False
    """Whether the same operation may succeed if tried again (see the module docstring)."""

    def __str__(self) -> str:
        return scrub(super().__str__())


class InvalidExperiment(ChaosError):
    """The file, its parameters or its blast radius were refused; nothing was injected."""

    exit_code = 2
    verdict = "invalid"

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class InvalidInput(InvalidExperiment):
    """Bad command-line input (a flag or argument), reported like a file problem."""


class PreflightRefused(ChaosError):
    """A pre-flight check refused the run before anything was injected (blast radius, gate)."""

    exit_code = 2
    verdict = "invalid"

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        self.details = details or []
        super().__init__(message + "".join(f"\n  - {d}" for d in self.details))


class TargetError(ChaosError):
    """The target (cluster, host) could not be reached or failed an operation."""

    transient = True


class TargetUnreachable(TargetError):
    """Nothing answered at the target's endpoint (connection refused, timeout): for a fault proxy's
    admin endpoint, the proxy — and every fault it held — is gone."""


class TargetRefused(TargetError):
    """The target answered and refused the request (HTTP 4xx): the same request fails again."""

    transient = False


class CapabilityMissing(TargetError):
    """The host or cluster cannot realise a fault (no netem, no root, no Chaos Mesh CRDs...)."""

    transient = False


class PermissionMissing(TargetError):
    """RBAC or OS permissions are missing; ``details`` lists exactly what."""

    transient = False

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        self.details = details or []
        super().__init__(message + "".join(f"\n  {d}" for d in self.details))


class MonitorUnavailable(ChaosError):
    """Prometheus could not be queried (unreachable, HTTP error, timeout, status error)."""


class ActuatorError(ChaosError):
    """A recovery action (degrade, circuit-break, notify, remove) failed."""

    transient = True


class StateError(ChaosError):
    """The state directory (SQLite) could not be read or written, or was refused (owner, mode)."""


class RecordRefused(StateError):
    """A record read back from the state store asked for something it may not choose (a token sent
    off the host or to another user's socket, a file outside the state dir, someone else's
    kubeconfig): refused, the record is left as it is."""
