"""pydantic validation errors → :class:`~chaos.errors.Problem` s a person can act on: unknown keys
with "did you mean", missing keys (not also reported when a misspelt key was meant), unknown
union tags, constraint errors with the value given, discriminated-union tags dropped from paths.
Pure. Callers: :mod:`chaos.loading.experiment`, :mod:`chaos.gameday.loading` (``root=GameDay``).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from chaos.errors import Problem
from chaos.loading.paths import PathT, format_path, line_for
from chaos.model.checks import did_you_mean
from chaos.model.experiment import Experiment, KindUnion
from chaos.model.slos import ProbeKinds

_CONSTRAINT_KINDS = frozenset({
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of", "finite_number",
    "string_pattern_mismatch", "string_too_short", "string_too_long", "too_short", "too_long",
})
"""pydantic error types whose message says what was expected but not what was given."""


def problems_from_validation(exc: ValidationError, source: str, lines: dict[PathT, int],
                              root: type[BaseModel] = Experiment) -> list[Problem]:
    """Problems of a pydantic error of document class ``root`` (Experiment, or GameDay for game days)."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    errors = exc.errors(include_url=False)
    # A misspelt key is reported once, as the unknown key with its "did you mean", not also as
    # the missing key it was meant to be.
    unknown_hints: dict[PathT, set[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            path, cls = _clean_loc(tuple(err["loc"]), root)
            unknown_hints.setdefault(path[:-1], set()).update(
                difflib.get_close_matches(str(path[-1]), _aliases(cls), n=1, cutoff=0.6))
    for err in errors:
        path, cls = _clean_loc(tuple(err["loc"]), root)
        kind = err["type"]
        msg = str(err["msg"])
        hint = ""
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if kind == "extra_forbidden":
            key = str(path[-1])
            allowed = _aliases(cls)
            msg = f"unknown key {key!r}"
            hint = did_you_mean(key, allowed) or (f"allowed keys: {', '.join(sorted(allowed))}" if allowed else "")
        elif kind == "missing":
            if str(path[-1]) in unknown_hints.get(path[:-1], set()):
                continue
            msg = f"missing required key {str(path[-1])!r}"
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx", {})
            tag = str(ctx.get("tag", ""))
            expected = str(ctx.get("expected_tags", ""))
            field_name = str(ctx.get("discriminator", "type")).strip("'")
            path = (*path, field_name)
            msg = f"unknown {field_name} {tag!r}"
            hint = did_you_mean(tag, [t.strip(" '") for t in expected.split(",")]) or f"one of {expected}"
        elif kind == "union_tag_not_found":
            field_name = str(err.get("ctx", {}).get("discriminator", "type")).strip("'")
            path = (*path, field_name)
            msg = f"missing required key {field_name!r}"
        elif kind == "literal_error":
            given = err.get("input")
            msg = f"{given!r} is not allowed: {msg}"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            msg = f"{msg} (got {type(err.get('input')).__name__} {_short(err.get('input'))})"
        elif kind in _CONSTRAINT_KINDS:
            given = err.get("input")
            shown = f"{len(given)} items" if isinstance(given, list | dict) else _short(given)
            msg = f"{msg} (got {shown})"
        dedup = (format_path(path), msg)
        if dedup in seen:
            continue
        seen.add(dedup)
        problems.append(Problem(msg, path=format_path(path), file=source, line=line_for(path, lines), hint=hint))
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clean_loc(loc: tuple[Any, ...], root: type[BaseModel] = Experiment
               ) -> tuple[PathT, type[BaseModel] | None]:
    """Drop discriminated-union tags from a pydantic location and find the model class it points into."""
    out: list[str | int] = []
    tp: Any = root
    parent_cls: type[BaseModel] | None = root
    i = 0
    while i < len(loc):
        part = loc[i]
        tp = _unwrap(tp)
        if isinstance(tp, tuple):  # union of models: the next loc part is the tag
            chosen = _pick_union(tp, str(part))
            if chosen is not None:
                tp = chosen
                parent_cls = chosen
                i += 1
                continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent_cls = tp
            field_info = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part or n == part), None)
            out.append(part)
            tp = field_info.annotation if field_info else None
        elif isinstance(part, int):
            out.append(part)
            args = typing.get_args(tp) if tp is not None else ()
            tp = args[0] if args else None
        else:
            out.append(part)
            args = typing.get_args(tp) if tp is not None else ()
            tp = args[-1] if args else None
        i += 1
    return tuple(out), parent_cls


def _unwrap(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        for marker in typing.get_args(tp)[1:]:  # a union of kinds made when the validator was built
            if isinstance(marker, KindUnion):
                models = marker.models()
                return models[0] if len(models) == 1 else models
            if isinstance(marker, ProbeKinds):
                return marker.model()
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [_unwrap(a) if typing.get_origin(a) is typing.Annotated else a for a in typing.get_args(tp)]
        models = tuple(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
        others = [a for a in args if a is not type(None) and a not in models]
        if len(models) == 1 and not others:
            return models[0]
        return models if models else tp
    return tp


def _pick_union(models: tuple[type[BaseModel], ...], tag: str) -> type[BaseModel] | None:
    for model in models:
        for name in ("type", "action"):
            f = model.model_fields.get(name)
            if f is not None and tag in typing.get_args(f.annotation):
                return model
    return None


def _aliases(cls: type[BaseModel] | None) -> list[str]:
    if cls is None:
        return []
    return [f.alias or n for n, f in cls.model_fields.items()]
