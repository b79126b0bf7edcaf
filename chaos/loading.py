"""Experiment files → validated :class:`~chaos.model.Experiment`, or every problem at once.

Pipeline: bounded read (size, UTF-8, no NUL) → YAML compose with node positions (depth and
alias-expansion bounded, duplicate keys refused) → sandboxed Jinja2 parameters and ``--set``
overrides → pydantic model → cross-field checks. Every refusal is a
:class:`~chaos.errors.Problem` with file, field path, line and a hint; nothing here raises
anything but :class:`~chaos.errors.InvalidExperiment`. Called by the CLI, the engine and the TUI.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from chaos.errors import InvalidExperiment, Problem
from chaos.model.checks import check_experiment, check_policies, did_you_mean
from chaos.model.experiment import Experiment
from chaos.secrets import MASK, Secret, is_recorded_secret, mask, recorded_recipe
from chaos.templating import EnvView, TemplateProblem, make_environment, render_string

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 50_000
MAX_DEPTH = 40

PathT = tuple[str | int, ...]


@dataclass
class Loaded:
    """A validated experiment and where it came from."""

    experiment: Experiment
    source: str
    raw: dict[str, Any]
    """The document after templating (what the model was built from; secrets are :class:`Secret`)."""
    lines: dict[PathT, int] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    """The document as written (templates unrendered): what the journal records."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """Resolved parameters; those derived from the environment are ``***``."""


def load_file(path: str | os.PathLike[str], overrides: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None) -> Loaded:
    """Load and validate one experiment file; raise :class:`InvalidExperiment` listing every problem."""
    return load_text(read_text_file(path), str(path), overrides=overrides, environ=environ)


def read_text_file(path: str | os.PathLike[str], what: str = "an experiment file") -> str:
    """A bounded UTF-8 YAML text file (experiments and game days); every failure an :class:`InvalidExperiment`."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidExperiment(Problem("no such file", file=name)) from None
    except IsADirectoryError:
        raise InvalidExperiment(Problem(f"is a directory, not {what}", file=name)) from None
    except OSError as exc:
        raise InvalidExperiment(Problem(f"cannot read: {exc.strerror}", file=name)) from None
    return decode_text(data, name)


def load_bytes(data: bytes, source: str = "", overrides: Mapping[str, str] | None = None,
               environ: Mapping[str, str] | None = None) -> Loaded:
    return load_text(decode_text(data, source), source, overrides=overrides, environ=environ)


def decode_text(data: bytes, source: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidExperiment(Problem(f"file larger than {MAX_FILE_BYTES} bytes; experiments are small",
                                        file=source))
    if b"\x00" in data:
        raise InvalidExperiment(Problem("binary data, not a YAML text file", file=source))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidExperiment(Problem(f"not UTF-8 text (byte {exc.start})", file=source)) from None


def load_text(text: str, source: str = "", overrides: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None) -> Loaded:
    doc, lines = parse_yaml(text, source)
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}"
        raise InvalidExperiment(Problem(f"the document is {kind}, expected a mapping with apiVersion, kind, "
                                        "metadata and spec", file=source, line=1))
    written = doc
    origins: dict[PathT, str] = {}
    doc, parameters = _render(doc, source, lines, overrides or {}, os.environ if environ is None else environ,
                              origins)
    try:
        exp = Experiment.model_validate(doc)
    except ValidationError as exc:
        problems = _problems_from_validation(exc, source, lines)
        raise InvalidExperiment([_from_parameter(p, lines, origins, overrides or {}) for p in problems]) from None
    problems = check_experiment(exp)
    known = {(p.path, p.message) for p in problems}
    problems += [p for p in check_policies(exp.spec.policies) if (p.path, p.message) not in known]
    if problems:
        raise InvalidExperiment([_from_parameter(_place(p, source, lines), lines, origins, overrides or {})
                                 for p in problems]) from None
    return Loaded(experiment=exp, source=source, raw=doc, lines=lines, written=written, parameters=parameters)


# ---------------------------------------------------------------- YAML with positions


def parse_yaml(text: str, source: str) -> tuple[Any, dict[PathT, int]]:
    """YAML → plain data and a map from field path to 1-based line, with hard bounds."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # the reader checks for unprintable characters up front
        at = text.count("\n", 0, exc.position) + 1
        raise InvalidExperiment(Problem(f"not valid YAML: unacceptable character #x{exc.character:04x}: "
                                        "special characters are not allowed", file=source, line=at)) from None
    try:
        _check_depth(text, source)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise InvalidExperiment(syntax_problem(exc, source, text)) from None
    except yaml.YAMLError as exc:
        raise InvalidExperiment(Problem(f"not valid YAML: {exc}", file=source)) from None
    except RecursionError:
        raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", file=source)) from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}
    lines: dict[PathT, int] = {}
    counter = [0]
    constructor = yaml.SafeLoader("")
    data = _build(node, (), lines, counter, constructor, source, 0)
    return data, lines


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting from the event stream (iterative) before the composer (recursive, slow
    near the interpreter's recursion limit) sees it: ``[[[[...`` is decided in milliseconds."""
    depth = 0
    events = yaml.SafeLoader(text)
    try:
        while events.check_event():
            event = events.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", file=source, line=line))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        events.dispose()


_STARTS_AT_CONTEXT = ("while scanning a simple key", "while scanning a quoted scalar",
                      "while scanning a block scalar", "while scanning an anchor", "while scanning an alias",
                      "while scanning a tag", "while scanning a directive")
"""Scanner errors found only after the faulty token (a key without ``:``, an unclosed quote): the
parser's problem mark is on a later line, the token started at the context mark."""


def syntax_problem(exc: yaml.MarkedYAMLError, source: str, text: str = "") -> Problem:
    """A YAML syntax error at the line and column where the faulty token starts (for a file
    that ends too early: its last line, where the unclosed thing is)."""
    problem, context = exc.problem or str(exc), exc.context or ""
    mark = exc.problem_mark
    message = f"not valid YAML: {problem}"
    at_end = "<stream end>" in problem or "end of stream" in problem
    if at_end and context not in _STARTS_AT_CONTEXT and text.strip():
        lines = text.splitlines()
        last = max(i for i, line in enumerate(lines) if line.strip())
        return Problem(f"not valid YAML: the file ends before this is closed ({problem})", file=source,
                       line=last + 1, column=len(lines[last].rstrip()))
    if exc.context_mark is not None and (mark is None or context in _STARTS_AT_CONTEXT):
        mark = exc.context_mark
        if context == "while scanning a simple key":
            message = "not valid YAML: a key without ':' (expected `key: value`)"
        elif context == "while scanning a quoted scalar":
            message = f"not valid YAML: a quoted string that is never closed ({problem})"
        else:
            message = f"not valid YAML: {problem} ({context})"
    elif exc.context_mark is not None and context:
        opened = exc.context_mark
        message += f" ({context.removeprefix('while ')} started at line {opened.line + 1}, " \
                   f"column {opened.column + 1})"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Problem(message, file=source, line=line, column=column)


def _build(node: yaml.Node, path: PathT, lines: dict[PathT, int], counter: list[int],
           constructor: yaml.SafeLoader, source: str, depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise InvalidExperiment(Problem(f"more than {MAX_NODES} YAML nodes (after expanding aliases)",
                                        file=source, line=node.start_mark.line + 1))
    if depth > MAX_DEPTH:
        raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", path=_fmt(path),
                                        file=source, line=node.start_mark.line + 1))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or node.start_mark
            raise InvalidExperiment(Problem(f"bad merge key: {exc.problem}", path=_fmt(path), file=source,
                                            line=mark.line + 1)) from None
        merged = len(node.value) - own  # `<<: *anchor` entries come first; the mapping's own keys win
        out: dict[str, Any] = {}
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise InvalidExperiment(Problem("mapping keys must be plain strings", path=_fmt(path),
                                                file=source, line=key_node.start_mark.line + 1))
            key = constructor.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float | bool) or key is None else repr(key)
            if index >= merged:
                if key in own_keys:
                    raise InvalidExperiment(Problem(f"duplicate key {key!r}", path=_fmt((*path, key)),
                                                    file=source, line=key_node.start_mark.line + 1))
                own_keys.add(key)
                if key in out:  # overrides a merged key: forget the merged value's lines
                    prefix = (*path, key)
                    for stale in [p for p in lines if p[:len(prefix)] == prefix]:
                        del lines[stale]
                # the key's line, not the value's: a block value starts on the next line
                lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), lines, counter, constructor, source, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, counter, constructor, source, depth + 1)
                for i, item in enumerate(node.value)]
    try:
        value = constructor.construct_object(node)
    except yaml.YAMLError as exc:
        reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else exc
        raise InvalidExperiment(Problem(f"bad value: {reason}", path=_fmt(path), file=source,
                                        line=node.start_mark.line + 1)) from None
    if isinstance(value, bytes):
        raise InvalidExperiment(Problem("binary values are not allowed", path=_fmt(path), file=source,
                                        line=node.start_mark.line + 1))
    if not isinstance(value, str | int | float | bool) and value is not None:
        value = node.value  # timestamps and the like stay text
    return value


# ---------------------------------------------------------------- templating


SECRET_SINKS = "header values (monitor.headers, with.http.headers, with.revert.headers, with.headers)"
ADDRESS_KEYS = frozenset({"prometheus", "url", "admin", "listen", "upstream"})
"""Fields that may take an address from the environment: it is used as written, except a URL's
userinfo, which is split off as a secret (``MonitorSpec``) or refused (webhooks, proxy admin)."""


def _is_sink(path: PathT) -> bool:
    return len(path) >= 2 and path[-2] == "headers"


class _Params:
    """Rendered parameters: the template context, the names derived from secrets, the journal view."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.context: dict[str, Any] = {"env": EnvView(environ)}
        self.secret_names: set[str] = {"env"}
        self.public: dict[str, Any] = {}
        self.parts: list[str] = []
        """Values of secret parameters and the environment values they read (masked in problems)."""


def _render_params(env: Any, raw_params: Mapping[str, Any], overrides: Mapping[str, str],
                   environ: Mapping[str, str], source: str, lines: dict[PathT, int]
                   ) -> tuple[_Params, dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    params: dict[str, Any] = dict(raw_params)
    out = _Params(environ)
    for key, value in overrides.items():
        if key not in params:
            hint = did_you_mean(key, params) or (
                f"declared parameters: {', '.join(params)}" if params else "declare it under spec.parameters")
            problems.append(Problem(f"--set {key}: no such parameter", hint=hint, file=source))
            continue
        try:
            params[key] = yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            params[key] = value
        if not isinstance(params[key], str | int | float | bool):
            params[key] = value
    for key, value in params.items():
        if key in overrides:
            out.context[key] = out.public[key] = params[key]
            continue
        path: PathT = ("spec", "parameters", key)
        try:
            rendered = _render_tree(env, value, out.context, path, out.secret_names, parts=out.parts)
        except _RenderFailure as failure:
            problems.append(_place(Problem(str(failure.problem), path=_fmt(failure.path)), source, lines))
            continue
        if _has_secret(rendered):
            out.secret_names.add(key)
            out.context[key] = _revealed(rendered)
            out.public[key] = MASK
            out.parts += _secret_parts(rendered)
        else:
            out.context[key] = out.public[key] = rendered
    return out, params, problems


def _has_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _secret_parts(value: Any) -> list[str]:
    if isinstance(value, Secret):
        return [value.reveal(), *value.parts]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _secret_parts(v)]
    if isinstance(value, list):
        return [p for v in value for p in _secret_parts(v)]
    return []


def _revealed(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    return value


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPR_RE = re.compile(r"\{\{(.*?)\}\}", re.S)


def _parameters_used(text: str, params: Mapping[str, Any]) -> list[str]:
    """The parameters a template string refers to, in order of appearance."""
    names = [n for expr in _EXPR_RE.findall(text) for n in _NAME_RE.findall(expr) if n in params]
    return list(dict.fromkeys(names))


def _record_origins(value: Any, path: PathT, params: Mapping[str, Any], origins: dict[PathT, str]) -> None:
    """Remember which field got its value from which parameter (a bad value is then reported at
    the parameter's line, where the user wrote it)."""
    if isinstance(value, str):
        used = _parameters_used(value, params)
        if len(used) == 1:
            origins[path] = used[0]
    elif isinstance(value, dict):
        for k, v in value.items():
            _record_origins(v, (*path, k), params, origins)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _record_origins(v, (*path, i), params, origins)


def _from_parameter(problem: Problem, lines: dict[PathT, int], origins: Mapping[PathT, str],
                    overrides: Mapping[str, str]) -> Problem:
    """A problem in a field filled from one parameter: at the parameter's line (or its ``--set``)."""
    if not problem.path:
        return problem
    path = _parse_path(problem.path)
    name = next((origins[path[:end]] for end in range(len(path), 0, -1) if path[:end] in origins), None)
    if name is None:
        return problem
    if name in overrides:
        return dataclasses.replace(problem, message=f"{problem.message} (the value comes from "
                                                    f"--set {name}={overrides[name]})")
    line = lines.get(("spec", "parameters", name), problem.line)
    where = f"line {problem.line}" if problem.line is not None else "the field"
    return dataclasses.replace(problem, line=line, path=f"spec.parameters.{name}",
                               message=f"{problem.message} (used by {problem.path}, {where})")


def _render(doc: dict[str, Any], source: str, lines: dict[PathT, int], overrides: Mapping[str, str],
            environ: Mapping[str, str], origins: dict[PathT, str] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Render templates; values derived from ``env`` become :class:`Secret` (header values), plain
    text (addresses), or a problem (anywhere else). Returns the document and the public parameters."""
    env = make_environment()
    spec = doc.get("spec")
    raw_params = spec.get("parameters") if isinstance(spec, dict) else None
    written = dict(raw_params) if isinstance(raw_params, dict) else {}
    rendered_params, _, problems = _render_params(env, written, overrides, environ, source, lines)
    if problems:
        raise InvalidExperiment(problems)
    recipe = {"parameters": written, "overrides": dict(overrides)}
    if origins is not None and isinstance(spec, dict):
        names = {**written, **overrides}
        for k, v in spec.items():
            if k != "parameters":
                _record_origins(v, ("spec", k), names, origins)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        try:
            if key == "spec" and isinstance(value, dict):
                out[key] = {k: (_render_tree(env, v, rendered_params.context, ("spec", k),
                                             rendered_params.secret_names, recipe, rendered_params.parts)
                                if k != "parameters" else dict(rendered_params.public))
                            for k, v in value.items()}
            else:
                out[key] = _render_tree(env, value, rendered_params.context, (key,), rendered_params.secret_names,
                                        recipe, rendered_params.parts)
        except _RenderFailure as failure:
            problems.append(_place(Problem(str(failure.problem), path=_fmt(failure.path)), source, lines))
    if problems:
        raise InvalidExperiment(problems)
    problems = _misplaced_secrets(out, (), source, lines)
    if problems:
        raise InvalidExperiment(problems)
    return out, rendered_params.public


def _misplaced_secrets(value: Any, path: PathT, source: str, lines: dict[PathT, int]) -> list[Problem]:
    """Secrets may go to header values; addresses are used as plain text; anything else is refused."""
    if isinstance(value, dict):
        out: list[Problem] = []
        for k, v in value.items():
            child = (*path, k)
            if isinstance(v, Secret) and not _is_sink(child):
                if k in ADDRESS_KEYS:
                    value[k] = v.reveal()
                    continue
                out.append(_place(Problem(
                    "this value reads the environment (env.NAME, directly or through a parameter); values from "
                    f"the environment are secrets and may only be used in {SECRET_SINKS} and in addresses "
                    f"({', '.join(sorted(ADDRESS_KEYS))})", path=_fmt(child),
                    hint="pass a non-secret value as a parameter with --set NAME=VALUE"), source, lines))
            else:
                out += _misplaced_secrets(v, child, source, lines)
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _misplaced_secrets(v, (*path, i), source, lines)]
    return []


class _RenderFailure(Exception):
    def __init__(self, problem: TemplateProblem, path: PathT) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.path = path


def _render_tree(env: Any, value: Any, context: Mapping[str, Any], path: PathT,
                 secret_names: set[str] | frozenset[str] = frozenset(),
                 recipe: Mapping[str, Any] | None = None, parts: list[str] | None = None) -> Any:
    if isinstance(value, str):
        try:
            rendered = render_string(env, value, context, secret_names)
        except TemplateProblem as problem:
            raise _RenderFailure(TemplateProblem(mask(str(problem), parts or [])), path) from None
        if isinstance(rendered, Secret):
            rendered = rendered.with_parts(tuple(parts or ()))
            if recipe is not None:
                rendered.recipe = {"template": value, **recipe}
        return rendered
    if isinstance(value, dict):
        return {k: _render_tree(env, v, context, (*path, k), secret_names, recipe, parts) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(env, v, context, (*path, i), secret_names, recipe, parts) for i, v in enumerate(value)]
    return value


def render_recipe(recipe: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """Render a secret again from its recipe (the template as written, the parameters as written and
    the ``--set`` overrides), with ``environ``: how ``aftershock recover`` gets a header back."""
    template = recipe.get("template")
    if not isinstance(template, str):
        raise InvalidExperiment(Problem("a recorded secret has no template"))
    env = make_environment()
    raw_params = recipe.get("parameters")
    raw_overrides = recipe.get("overrides")
    params, _, problems = _render_params(env, raw_params if isinstance(raw_params, dict) else {},
                                         raw_overrides if isinstance(raw_overrides, dict) else {}, environ, "", {})
    if problems:
        raise InvalidExperiment(problems)
    try:
        return str(_revealed(render_string(env, template, params.context, params.secret_names)))
    except TemplateProblem as problem:
        raise InvalidExperiment(Problem(f"recorded secret: {problem}")) from None


def from_record(data: Any, environ: Mapping[str, str]) -> Any:
    """Inverse of :func:`chaos.secrets.to_record`: recorded secrets rendered again from ``environ``."""
    if is_recorded_secret(data):
        recipe = recorded_recipe(data)
        if recipe is None:
            raise InvalidExperiment(Problem("a secret was recorded without a way to obtain it again"))
        return Secret(render_recipe(recipe, environ), recipe=recipe)
    if isinstance(data, dict):
        return {k: from_record(v, environ) for k, v in data.items()}
    if isinstance(data, list):
        return [from_record(v, environ) for v in data]
    return data


# ---------------------------------------------------------------- pydantic errors → problems


def _fmt(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _place(problem: Problem, source: str, lines: dict[PathT, int]) -> Problem:
    line = problem.line
    if line is None and problem.path:
        line = _line_for(_parse_path(problem.path), lines)
    return Problem(problem.message, path=problem.path, file=problem.file or source, line=line, hint=problem.hint)


def _parse_path(text: str) -> PathT:
    out: list[str | int] = []
    for chunk in text.replace("[", ".[").split("."):
        if not chunk:
            continue
        out.append(int(chunk[1:-1]) if chunk.startswith("[") else chunk)
    return tuple(out)


def _line_for(path: PathT, lines: dict[PathT, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


_CONSTRAINT_KINDS = frozenset({
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of", "finite_number",
    "string_pattern_mismatch", "string_too_short", "string_too_long", "too_short", "too_long",
})
"""pydantic error types whose message says what was expected but not what was given."""


def _problems_from_validation(exc: ValidationError, source: str, lines: dict[PathT, int],
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
        dedup = (_fmt(path), msg)
        if dedup in seen:
            continue
        seen.add(dedup)
        problems.append(Problem(msg, path=_fmt(path), file=source, line=_line_for(path, lines), hint=hint))
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
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        models = tuple(a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel))
        others = [a for a in typing.get_args(tp) if a is not type(None) and a not in models]
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
