"""Template rendering of a document: ``spec.parameters`` first (with ``--set`` overrides, parsed
as YAML scalars), then every other field in the sandboxed Jinja2 environment of
:mod:`chaos.templating`. Values derived from ``env`` become :class:`~chaos.secrets.Secret` with a
recipe (how ``aftershock recover`` renders them again); the public parameters mask them. A document
without any template (no ``{{``, ``{%`` or ``{#`` in any string) is used as written: Jinja2 is not
imported for it (~20 ms of a start-up). Pure.
Callers: :mod:`chaos.loading.experiment`, :mod:`chaos.loading.recipes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from chaos.errors import InvalidExperiment, Problem
from chaos.loading.env_values import has_secret, misplaced_secrets, revealed, secret_parts
from chaos.loading.origins import record_origins
from chaos.loading.paths import PathT, format_path, place
from chaos.model.checks import did_you_mean
from chaos.secrets import MASK, Secret, mask

if TYPE_CHECKING:  # Jinja2 comes with the first template (chaos.templating imports it)
    from chaos.templating import TemplateProblem

TEMPLATE_MARKERS = ("{{", "{%", "{#")
"""What makes a string a template (:func:`chaos.templating.render_string` renders any other as is)."""


def is_template(text: str) -> bool:
    return any(marker in text for marker in TEMPLATE_MARKERS)


def has_template(value: Any) -> bool:
    """Whether any string in ``value`` (a YAML tree) is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


class Params:
    """Rendered parameters: the template context, the names derived from secrets, the journal view."""

    def __init__(self, environ: Mapping[str, str], templated: bool = True) -> None:
        self.context: dict[str, Any] = {}
        if templated:  # (a document without templates never reads it)
            from chaos.templating import EnvView

            self.context["env"] = EnvView(environ)
        self.secret_names: set[str] = {"env"}
        self.public: dict[str, Any] = {}
        self.parts: list[str] = []
        """Values of secret parameters and the environment values they read (masked in problems)."""


def render_params(env: Any, raw_params: Mapping[str, Any], overrides: Mapping[str, str],
                   environ: Mapping[str, str], source: str, lines: dict[PathT, int]
                   ) -> tuple[Params, dict[str, Any], list[Problem]]:
    """``env``: the sandbox (:func:`chaos.templating.make_environment`), None for a document without
    templates."""
    problems: list[Problem] = []
    params: dict[str, Any] = dict(raw_params)
    out = Params(environ, templated=env is not None)
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
            rendered = render_tree(env, value, out.context, path, out.secret_names, parts=out.parts)
        except RenderFailure as failure:
            problems.append(place(Problem(str(failure.problem), path=format_path(failure.path)), source, lines))
            continue
        if has_secret(rendered):
            out.secret_names.add(key)
            out.context[key] = revealed(rendered)
            out.public[key] = MASK
            out.parts += secret_parts(rendered)
        else:
            out.context[key] = out.public[key] = rendered
    return out, params, problems


def render_document(doc: dict[str, Any], source: str, lines: dict[PathT, int], overrides: Mapping[str, str],
            environ: Mapping[str, str], origins: dict[PathT, str] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Render templates; values derived from ``env`` become :class:`Secret` (header values), plain
    text (addresses), or a problem (anywhere else). Returns the document and the public parameters."""
    env = None
    if has_template(doc):
        from chaos.templating import make_environment

        env = make_environment()
    spec = doc.get("spec")
    raw_params = spec.get("parameters") if isinstance(spec, dict) else None
    written = dict(raw_params) if isinstance(raw_params, dict) else {}
    rendered_params, _, problems = render_params(env, written, overrides, environ, source, lines)
    if problems:
        raise InvalidExperiment(problems)
    recipe = {"parameters": written, "overrides": dict(overrides)}
    if origins is not None and isinstance(spec, dict):
        names = {**written, **overrides}
        for k, v in spec.items():
            if k != "parameters":
                record_origins(v, ("spec", k), names, origins)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        try:
            if key == "spec" and isinstance(value, dict):
                out[key] = {k: (render_tree(env, v, rendered_params.context, ("spec", k),
                                             rendered_params.secret_names, recipe, rendered_params.parts)
                                if k != "parameters" else dict(rendered_params.public))
                            for k, v in value.items()}
            else:
                out[key] = render_tree(env, value, rendered_params.context, (key,), rendered_params.secret_names,
                                        recipe, rendered_params.parts)
        except RenderFailure as failure:
            problems.append(place(Problem(str(failure.problem), path=format_path(failure.path)), source, lines))
    if problems:
        raise InvalidExperiment(problems)
    problems = misplaced_secrets(out, (), source, lines)
    if problems:
        raise InvalidExperiment(problems)
    return out, rendered_params.public


class RenderFailure(Exception):
    def __init__(self, problem: TemplateProblem, path: PathT) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.path = path


def render_tree(env: Any, value: Any, context: Mapping[str, Any], path: PathT,
                 secret_names: set[str] | frozenset[str] = frozenset(),
                 recipe: Mapping[str, Any] | None = None, parts: list[str] | None = None) -> Any:
    if isinstance(value, str):
        if not is_template(value):
            return value
        from chaos.templating import TemplateProblem, render_string

        try:
            rendered = render_string(env, value, context, secret_names)
        except TemplateProblem as problem:
            raise RenderFailure(TemplateProblem(mask(str(problem), parts or [])), path) from None
        if isinstance(rendered, Secret):
            rendered = rendered.with_parts(tuple(parts or ()))
            if recipe is not None:
                rendered.recipe = {"template": value, **recipe}
        return rendered
    if isinstance(value, dict):
        return {k: render_tree(env, v, context, (*path, k), secret_names, recipe, parts) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(env, v, context, (*path, i), secret_names, recipe, parts) for i, v in enumerate(value)]
    return value
