"""The game-day document: ``apiVersion: aftershock/v1alpha1``, ``kind: GameDay``.

A game day groups experiments (files relative to the GameDay file) under one schedule, with
its missed-fire policy, concurrency, blackouts, an error-budget gate, ``suspendAfter`` and
notifications. Field names are the contract of ``shared/design/experiment-format.md``.
Cross-references (the gate's SLO, the experiment files) are checked by
:mod:`chaos.gameday.loading`, which validates every referenced experiment too. Pure values.
"""

from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from chaos.model.alerting import AlertReceiver
from chaos.model.base import Model, Window, check_cron
from chaos.model.durations import parse_window
from chaos.model.experiment import Metadata, Schedule
from chaos.model.slos import Gate

Verdict = Literal["passed", "deviated", "failed", "aborted", "unsteady", "invalid", "error"]
NotifyEvent = Literal["scheduled", "started", "finished", "aborted", "skipped", "suspended"]
NOTIFY_EVENTS: tuple[str, ...] = ("scheduled", "started", "finished", "aborted", "skipped", "suspended")


class GameDaySchedule(Schedule):
    """When the game day fires, and what happens to fires that could not start on time."""

    missed: Literal["skip", "latest"] = "skip"
    """skip: a due time that cannot start at once is skipped (recorded with its reason);
    latest: the most recent due time is retried until ``startingDeadline``, earlier ones are skipped."""
    starting_deadline: Window = "10m"
    """How late after its due time a run may still start (``latest``; ``skip`` allows one minute)."""
    concurrency: Literal["Forbid", "Allow", "Replace"] = "Forbid"

    @property
    def starting_deadline_s(self) -> float:
        return parse_window(self.starting_deadline)


class ExperimentRef(Model):
    file: str = Field(min_length=1)
    """Path of the experiment, relative to the GameDay file."""
    set: dict[str, str | int | float | bool] = Field(default={})
    """``--set`` overrides of the experiment's parameters."""

    def overrides(self) -> dict[str, str]:
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.set.items()}


def _parse_day_or_time(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date (2026-12-20) or local date-time "
                         "(2026-12-20T08:00)") from None


class Blackout(Model):
    """When nothing may start: a date range (``from``/``to``, whole days inclusive in the schedule's
    zone, or local date-times) and/or a cron window (``cron`` starts it, ``duration`` long)."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cron: str | None = None
    duration: Window | None = None
    reason: str = ""

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        if isinstance(value, date | datetime):
            return value.isoformat()
        if isinstance(value, str):
            _parse_day_or_time(value.strip())
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("a date range needs both 'from' and 'to'")
        if (self.cron is None) != (self.duration is None):
            raise ValueError("a cron window needs both 'cron' and 'duration'")
        if self.from_ is None and self.cron is None:
            raise ValueError("a blackout needs from/to (dates) or cron/duration (a recurring window)")
        if self.from_ is not None and self.to is not None:
            a, b = _parse_day_or_time(self.from_), _parse_day_or_time(self.to)
            if type(a) is not type(b):
                raise ValueError("'from' and 'to' must both be dates or both be date-times")
            if b < a:
                raise ValueError(f"'to' ({self.to}) is before 'from' ({self.from_})")
        return self

    @property
    def span(self) -> tuple[date | datetime, date | datetime] | None:
        if self.from_ is None or self.to is None:
            return None
        return _parse_day_or_time(self.from_), _parse_day_or_time(self.to)

    @property
    def duration_s(self) -> float:
        return parse_window(self.duration) if self.duration else 0.0

    def describe(self) -> str:
        what = f"{self.from_} → {self.to}" if self.from_ else f"cron {self.cron!r} for {self.duration}"
        return f"{what} ({self.reason})" if self.reason else what


class Notify(Model):
    url: str = Field(min_length=1)
    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))  # type: ignore[arg-type]

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class GameDaySpec(Model):
    schedule: GameDaySchedule | None = None
    experiments: list[ExperimentRef] = Field(min_length=1, max_length=100)
    mode: Literal["serial", "parallel"] = "serial"
    pause: Window = "0s"
    stop_on: list[Verdict] = Field(default_factory=lambda: ["failed", "aborted"])  # type: ignore[arg-type]
    gate: Gate | None = None
    blackouts: list[Blackout] = Field(default=[], max_length=1000)
    suspend_after: int | None = Field(default=None, ge=1, le=1000)
    notify: list[Notify] = Field(default=[], max_length=20)
    alerting: AlertReceiver | None = None
    """Alertmanager told when the schedule is suspended (``AftershockScheduleSuspended``)."""

    @property
    def pause_s(self) -> float:
        return parse_window(self.pause)


class GameDay(Model):
    api_version: Literal["aftershock/v1alpha1"]
    kind: Literal["GameDay"]
    metadata: Metadata
    spec: GameDaySpec

    @property
    def name(self) -> str:
        return self.metadata.name
