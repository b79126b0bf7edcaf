"""The experiment library: every file of the experiments directory, valid or not.

:func:`scan` loads each ``*.yaml``/``*.yml`` with :func:`chaos.loading.load_file`; invalid files
become entries carrying their problems (shown, never hidden). Called from thread workers of the
experiments and schedules screens (their fire times come from :mod:`chaos.gameday.fires`); no Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import InvalidExperiment
from chaos.loading import Loaded, load_file
from chaos.model.experiment import Schedule


@dataclass
class Entry:
    path: Path
    loaded: Loaded | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.loaded is not None

    @property
    def name(self) -> str:
        return self.loaded.experiment.name if self.loaded else self.path.stem

    @property
    def target(self) -> str:
        if not self.loaded:
            return "-"
        target = self.loaded.experiment.spec.target
        return "host" if target.type == "host" else f"k8s/{target.namespace}"

    @property
    def faults(self) -> str:
        if not self.loaded:
            return ""
        return ", ".join(f"{f.name} ({getattr(f, 'type', '?')})" for f in self.loaded.experiment.spec.faults)

    @property
    def slos(self) -> str:
        return ", ".join(s.name for s in self.loaded.experiment.spec.slos) if self.loaded else ""

    @property
    def schedule(self) -> Schedule | None:
        return self.loaded.experiment.spec.schedule if self.loaded else None

    @property
    def description(self) -> str:
        return self.loaded.experiment.metadata.description if self.loaded else ""

    @property
    def haystack(self) -> str:
        """What the fuzzy filter matches against."""
        return " ".join((self.name, self.target, self.faults, self.slos, self.path.name))


def scan(directory: Path) -> list[Entry]:
    """Every experiment file of ``directory`` (sorted by file name)."""
    if not directory.is_dir():
        return []  # the screen says the folder is missing (not an invalid experiment named after it)
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [load_entry(path) for path in files]


def load_entry(path: Path, overrides: Mapping[str, str] | None = None) -> Entry:
    try:
        return Entry(path, loaded=load_file(path, overrides=overrides))
    except InvalidExperiment as exc:
        return Entry(path, problems=[p.render() for p in exc.problems])
