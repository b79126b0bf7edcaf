"""GameDay files → a validated :class:`LoadedGameDay` (the game day and every experiment it runs).

Same rigour as experiments (:mod:`chaos.loading`): bounded YAML with line numbers, strict keys
with a "did you mean", every problem as file:line:field; and every referenced experiment is
loaded and validated with its ``set`` overrides (its problems name its own file). Also
:func:`load_document`, which dispatches on ``kind`` (``aftershock validate``, ``gameday serve``),
and :func:`as_gameday`, the one-experiment game day of an experiment with ``spec.schedule``.
Reads files only; called by the CLI, the scheduler and the TUI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chaos.errors import InvalidExperiment, Problem
from chaos.loading import Loaded, load_parsed, parse_yaml, read_text_file
from chaos.loading.paths import PathT, format_path, line_for
from chaos.loading.validation_problems import problems_from_validation
from chaos.model.checks import did_you_mean, gate_problems
from chaos.model.experiment import Experiment, Metadata

if TYPE_CHECKING:  # the game-day model is imported when a game day is loaded, not for every experiment file
    from chaos.model.gameday import GameDay


@dataclass
class LoadedGameDay:
    """A validated game day, its experiments (in file order) and where it came from."""

    gameday: GameDay
    source: str
    experiments: list[Loaded]
    lines: dict[PathT, int] = field(default_factory=dict)
    from_experiment: bool = False
    """True for the one-experiment game day of an experiment's ``spec.schedule``."""

    @property
    def name(self) -> str:
        return self.gameday.name

    def gate_slo(self) -> tuple[Loaded, Any] | None:
        """The experiment and SLO the gate reads (None without a gate)."""
        gate = self.gameday.spec.gate
        if gate is None:
            return None
        for loaded in self.experiments:
            exp = loaded.experiment
            if gate.experiment is not None and exp.name != gate.experiment:
                continue
            for slo in exp.spec.slos:
                if slo.name == gate.slo:
                    return loaded, slo
        return None


def _read(path: Path) -> str:
    return read_text_file(path, "an experiment or GameDay file")


def _kind(doc: Any) -> str:
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else ""


def load_document(path: str | os.PathLike[str], overrides: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Loaded | LoadedGameDay:
    """An experiment or a game day, by its ``kind`` (the file is read and parsed once)."""
    source = str(path)
    doc, lines = parse_yaml(read_text_file(path), source)
    if _kind(doc) == "GameDay":
        if overrides:
            raise InvalidExperiment(Problem("--set applies to experiments; a GameDay sets parameters per "
                                            "experiment under spec.experiments[].set", file=source))
        return _load_gameday(doc, lines, path, environ)
    return load_parsed(doc, lines, source, overrides=overrides, environ=environ)


def load_gameday(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> LoadedGameDay:
    """Load and validate a GameDay file and every experiment it references; raise
    :class:`InvalidExperiment` listing every problem (the game day's and its experiments')."""
    doc, lines = parse_yaml(_read(Path(path)), str(path))
    return _load_gameday(doc, lines, path, environ)


def _load_gameday(doc: Any, lines: dict[PathT, int], path: str | os.PathLike[str],
                  environ: Mapping[str, str] | None) -> LoadedGameDay:
    from chaos.model.gameday import GameDay

    source = str(path)
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}"
        raise InvalidExperiment(Problem(f"the document is {kind}, expected a mapping with apiVersion, kind, "
                                        "metadata and spec", file=source, line=1))
    try:
        gameday = GameDay.model_validate(doc)
    except ValidationError as exc:
        raise InvalidExperiment(problems_from_validation(exc, source, lines, GameDay)) from None
    problems: list[Problem] = []

    def here(message: str, where: PathT, hint: str = "") -> Problem:
        return Problem(message, path=format_path(where), file=source, line=line_for(where, lines), hint=hint)

    base = Path(path).resolve().parent
    loaded: list[Loaded] = []
    for i, ref in enumerate(gameday.spec.experiments):
        where: PathT = ("spec", "experiments", i, "file")
        target = Path(ref.file) if Path(ref.file).is_absolute() else base / ref.file
        if not target.is_file():
            near = [p.name for p in base.glob("*.y*ml")]
            problems.append(here(f"no such experiment file {ref.file!r} (looked in {base})", where,
                                 did_you_mean(ref.file, near)))
            continue
        try:
            target_doc, target_lines = parse_yaml(read_text_file(target), str(target))
            if _kind(target_doc) == "GameDay":
                problems.append(here(f"{ref.file} is a GameDay; a game day runs experiments, not other game "
                                     "days", where))
                continue
            loaded.append(load_parsed(target_doc, target_lines, str(target), overrides=ref.overrides(),
                                      environ=environ))
        except InvalidExperiment as exc:
            problems.append(here(f"experiment {ref.file} is invalid ({len(exc.problems)} problem(s) listed "
                                 "with its file)", where))
            problems.extend(exc.problems)
    gate = gameday.spec.gate
    if gate is not None and len(loaded) == len(gameday.spec.experiments):
        names = [x.experiment.name for x in loaded]
        if gate.experiment is not None and gate.experiment not in names:
            problems.append(here(f"unknown experiment {gate.experiment!r}", ("spec", "gate", "experiment"),
                                 did_you_mean(gate.experiment, names) or f"experiments: {', '.join(names)}"))
        else:
            slos = sorted({s.name for x in loaded for s in x.experiment.spec.slos
                           if gate.experiment in (None, x.experiment.name)})
            if gate.slo not in slos:
                problems.append(here(f"unknown SLO {gate.slo!r}: the gate reads an SLO of the game day's "
                                     "experiments", ("spec", "gate", "slo"),
                                     did_you_mean(gate.slo, slos) or f"known SLOs: {', '.join(slos) or 'none'}"))
            else:
                found = [s for x in loaded for s in x.experiment.spec.slos
                         if gate.experiment in (None, x.experiment.name) and s.name == gate.slo]
                problems += [here(p.message, ("spec", "gate", "slo"), p.hint) for p in gate_problems(gate, found, "")]
    if problems:
        raise InvalidExperiment(problems)
    return LoadedGameDay(gameday=gameday, source=source, experiments=loaded, lines=lines)


def as_gameday(loaded: Loaded) -> LoadedGameDay:
    """The one-experiment game day of an experiment with ``spec.schedule`` (defaults otherwise)."""
    from chaos.model.gameday import ExperimentRef, GameDay, GameDaySchedule, GameDaySpec

    exp: Experiment = loaded.experiment
    schedule = None
    if exp.spec.schedule is not None:
        schedule = GameDaySchedule(cron=exp.spec.schedule.cron, timezone=exp.spec.schedule.timezone)
    gameday = GameDay(api_version="aftershock/v1alpha1", kind="GameDay",
                      metadata=Metadata(name=exp.name, description=exp.metadata.description),
                      spec=GameDaySpec(schedule=schedule, experiments=[ExperimentRef(file=loaded.source)]))
    return LoadedGameDay(gameday=gameday, source=loaded.source, experiments=[loaded], from_experiment=True)
