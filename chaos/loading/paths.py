"""Field paths of a document (``spec.faults[0].latency``) and the lines they were written on.

``PathT`` is a path as a tuple; :func:`format_path` / :func:`parse_path` convert it to and from
its text; :func:`line_for` finds the nearest line a path (or a parent of it) was written on, and
:func:`place` gives a :class:`~chaos.errors.Problem` its file and line. Pure. Callers: the rest
of :mod:`chaos.loading` and :mod:`chaos.gameday.loading`.
"""

from __future__ import annotations

from chaos.errors import Problem

PathT = tuple[str | int, ...]


def format_path(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_path(text: str) -> PathT:
    """``spec.faults[0].name`` → ``("spec", "faults", 0, "name")``. A key the file wrote with brackets
    or dots in it (``[``, ``a.b``) is kept as text, never an error: the path only places a message."""
    out: list[str | int] = []
    for chunk in text.replace("[", ".[").split("."):
        if not chunk:
            continue
        index = chunk[1:-1]
        out.append(int(index) if chunk.startswith("[") and chunk.endswith("]") and index.isascii()
                   and index.isdigit() else chunk)
    return tuple(out)


def line_for(path: PathT, lines: dict[PathT, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def place(problem: Problem, source: str, lines: dict[PathT, int]) -> Problem:
    line = problem.line
    if line is None and problem.path:
        line = line_for(parse_path(problem.path), lines)
    return Problem(problem.message, path=problem.path, file=problem.file or source, line=line, hint=problem.hint)
