"""The kinds registry: fault kinds, policy actions and probes found through entry points.

Three entry-point groups — ``aftershock.faults``, ``aftershock.actions``, ``aftershock.probes`` — each
name a kind (``network-delay = "chaos.faults.network_delay:KIND"``); the product's own kinds are
registered in ``pyproject.toml`` exactly as a plugin package registers its own. The entry points are
read once, on first use; a kind's module is imported only when that kind is first asked for
(:meth:`KindGroup.get`: loading an experiment imports the kinds it names, and the model's unions are
built from those, ``chaos.model.experiment.experiment_model``), every kind's only by
:meth:`KindGroup.all` (the JSON Schema, listings). Nothing else in Aftershock names a kind.

Reading entry points: the aftershock distribution's own first, then every other installed
distribution's that declares one of the groups — both cached per environment in
``$XDG_CACHE_HOME/aftershock`` and read again when a distribution is installed or removed. An unknown name is a
:class:`~chaos.errors.Problem` with a "did you mean"; a kind that fails to load, or a name
registered twice, is an :class:`UnusableKind` error naming the distribution and the entry point.
Pure apart from reading installed packages' metadata.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from chaos.errors import ChaosError, Problem

if TYPE_CHECKING:  # imported when a kind is first loaded: the kind modules import chaos.model
    from chaos.model.kinds import ActionKind, FaultKind, ProbeKind

K = TypeVar("K", "FaultKind", "ActionKind", "ProbeKind")

DISTRIBUTION = "aftershock"
FAULTS = "aftershock.faults"
ACTIONS = "aftershock.actions"
PROBES = "aftershock.probes"
GROUPS = (FAULTS, ACTIONS, PROBES)


class UnusableKind(ChaosError):
    """A registered kind cannot be used (its module fails to import, its object is not a kind, or
    two distributions register the same name). Exit 3: the installation is broken, not the file."""


@dataclass(frozen=True)
class Registration:
    """Where one kind comes from: its entry point and the distribution that declares it."""

    name: str
    value: str
    """``module:attribute``."""
    distribution: str


def _own_and_other_entry_points() -> list[tuple[str, Registration]]:
    """Every ``(group, registration)`` of the three groups, the aftershock distribution's first.

    Finding them looks the aftershock distribution up and reads every other installed distribution's
    ``entry_points.txt`` (~10 ms of CPU with ~100 distributions), so the answer is cached per
    environment, keyed by the modification times of the import path's folders (installing, upgrading
    or removing a distribution, aftershock's own included, changes them)."""
    cache = _cache_file()
    fingerprint = _fingerprint(sys.path)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(_read_private(cache))
        if data["v"] == 2 and data["fingerprint"] == fingerprint:
            cached = [(g, Registration(n, v, d)) for g, n, v, d in data["found"]]
            if all(g in GROUPS and isinstance(n, str) and _VALUE.fullmatch(r.value) and isinstance(d, str)
                   for g, r in cached for n, d in [(r.name, r.distribution)]):
                return cached
    found = _own_entry_points() + _other_entry_points()
    with contextlib.suppress(OSError):
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"v": 2, "fingerprint": fingerprint,
                                  "found": [[g, r.name, r.value, r.distribution] for g, r in found]}))
        os.replace(tmp, cache)
    return found


def _own_entry_points() -> list[tuple[str, Registration]]:
    try:
        own = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree that is not installed: only plugins
        return []
    return [(ep.group, Registration(ep.name, ep.value, DISTRIBUTION)) for ep in own.entry_points if ep.group in GROUPS]


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(json.dumps([sys.prefix, sys.path]).encode()).hexdigest()[:16]
    return Path(base) / "aftershock" / f"entry-points-{key}.json"


def _fingerprint(paths: Iterable[str]) -> list[list[Any]]:
    """The modification times of the import path's folders: installing or removing a distribution
    creates or deletes its ``.dist-info`` folder there, which changes them."""
    out: list[list[Any]] = []
    for entry in paths:
        with contextlib.suppress(OSError):
            out.append([entry, os.stat(entry or ".").st_mtime_ns])
    return out


def _other_entry_points() -> list[tuple[str, Registration]]:
    """Other distributions' registrations (every installed distribution's ``entry_points.txt``)."""
    found: list[tuple[str, Registration]] = []
    seen = {DISTRIBUTION}
    for dist in metadata.distributions():
        text = dist.read_text("entry_points.txt")
        if not text or "[aftershock." not in text:
            continue  # most distributions: not parsed
        name = dist.metadata["Name"] or "?"
        if name in seen:
            continue  # ours, or the same distribution further down sys.path
        seen.add(name)
        found += [(ep.group, Registration(ep.name, ep.value, name)) for ep in dist.entry_points if ep.group in GROUPS]
    return found


_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_.]*)?")
"""An entry point's ``module:attribute``, nothing else."""


def _read_private(path: Path) -> str:
    """The cache's text, only when this user alone could have written it: the cache chooses which
    modules are imported, so a file or folder that is not ours, or is writable by others, is not
    read (the distributions are read again instead). Raises OSError otherwise."""
    uid = os.geteuid()
    for where in (path.parent, path):
        info = os.lstat(where)
        if info.st_uid != uid or info.st_mode & 0o022 or stat.S_ISLNK(info.st_mode):
            raise PermissionError(f"{where} is not this user's alone")
    return path.read_text()


EntryPointSource = Callable[[], Iterable[tuple[str, Registration]]]
_source: EntryPointSource = _own_and_other_entry_points
_all: list[tuple[str, Registration]] | None = None


def _entry_points() -> list[tuple[str, Registration]]:
    global _all
    if _all is None:
        _all = list(_source())
    return _all


def _load_object(reg: Registration) -> Any:
    module_name, _, attr = reg.value.partition(":")
    try:
        obj: Any = __import__(module_name, fromlist=["_"])
        for part in (attr or "KIND").split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # a plugin's own bug: reported, not a traceback
        raise UnusableKind(f"the kind {reg.name!r} of {reg.distribution} ({reg.value}) cannot be loaded: "
                           f"{type(exc).__name__}: {exc}") from exc
    return obj


class KindGroup(Generic[K]):
    """The kinds of one entry-point group. Its names come from the entry points alone; a kind's
    module is imported the first time that kind is asked for (:meth:`get`), every kind's only by
    :meth:`all` (the JSON Schema, listings)."""

    def __init__(self, group: str, kind_type: str, what: str) -> None:
        self.group = group
        self.kind_type = kind_type
        """The class name in ``chaos.model.kinds``."""
        self.what = what
        self._registered: dict[str, Registration] | None = None
        self._twice: dict[str, Registration] = {}
        """A name a second distribution registers with another value (refused when it is used)."""
        self._kinds: dict[str, K] = {}

    def _registrations(self) -> dict[str, Registration]:
        if self._registered is None:
            registered: dict[str, Registration] = {}
            for group, reg in _entry_points():
                if group != self.group:
                    continue
                first = registered.setdefault(reg.name, reg)
                if first.value != reg.value:
                    self._twice.setdefault(reg.name, reg)
            self._registered = registered
        return self._registered

    def _load(self, name: str, reg: Registration) -> K:
        if name in self._twice:
            other = self._twice[name]
            raise UnusableKind(f"{self.what} {name!r} is registered twice: by {reg.distribution} "
                               f"({reg.value}) and by {other.distribution} ({other.value}); uninstall one")
        from chaos.model import kinds as kinds_module

        kind_type: type[K] = getattr(kinds_module, self.kind_type)
        obj = _load_object(reg)
        if not isinstance(obj, kind_type) or obj.name != name:
            raise UnusableKind(f"{reg.value} (entry point {name!r} of {reg.distribution} in group "
                               f"{self.group}) is not a {self.kind_type} named {name!r}")
        self._kinds[name] = obj
        return obj

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order (no kind module is imported)."""
        return tuple(self._registrations())

    def get(self, name: str) -> K | None:
        """The kind registered as ``name`` (its module imported now if it was not), or None."""
        kind = self._kinds.get(name)
        if kind is not None:
            return kind
        reg = self._registrations().get(name)
        return None if reg is None else self._load(name, reg)

    def all(self) -> Mapping[str, K]:
        """Every registered kind, in registration order: imports every kind's module."""
        out: dict[str, K] = {}
        for name in self._registrations():
            kind = self.get(name)
            assert kind is not None
            out[name] = kind
        return out

    def loaded(self) -> tuple[str, ...]:
        """The names whose kind has been imported so far."""
        return tuple(name for name in self._registrations() if name in self._kinds)

    def origin(self, name: str) -> Registration | None:
        return self._registrations().get(name)

    def unknown(self, name: str, path: str = "") -> Problem:
        """The problem of a name no kind of this group has."""
        close = difflib.get_close_matches(name, list(self.names()), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(self.names()) or 'none'}"
        return Problem(f"unknown {self.what} {name!r}", path=path, hint=hint)

    def require(self, name: str, path: str = "") -> K:
        kind = self.get(name)
        if kind is None:
            from chaos.errors import InvalidExperiment

            raise InvalidExperiment(self.unknown(name, path))
        return kind

    def reset(self) -> None:
        self._registered = None
        self._twice = {}
        self._kinds = {}


faults: KindGroup[FaultKind] = KindGroup(FAULTS, "FaultKind", "fault type")
actions: KindGroup[ActionKind] = KindGroup(ACTIONS, "ActionKind", "policy action")
probes: KindGroup[ProbeKind] = KindGroup(PROBES, "ProbeKind", "probe")


def use_source(source: EntryPointSource | None) -> None:
    """Read entry points from ``source`` instead (tests: a registry with one entry point filtered out);
    None goes back to the installed distributions. Must run before any kind is loaded (the model
    caches the unions it builds from loaded kinds)."""
    global _source, _all
    _source = source or _own_and_other_entry_points
    _all = None
    for group in (faults, actions, probes):
        group.reset()


def installed() -> list[tuple[str, Registration]]:
    """Every registration the installed distributions declare (for a filtered :func:`use_source`)."""
    return list(_own_and_other_entry_points())
