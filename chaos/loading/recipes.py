"""Recorded secrets rendered again: a header value that read the environment is recorded as its
recipe (template, parameters and ``--set`` overrides as written), never its value;
:func:`from_record` renders it again from the recovering process's own environment. Pure.
Caller: ``chaos.targets.undo`` (``aftershock recover``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.errors import InvalidExperiment, Problem
from chaos.loading.env_values import revealed
from chaos.loading.parameters import render_params
from chaos.secrets import Secret, is_recorded_secret, recorded_recipe


def render_recipe(recipe: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """Render a secret again from its recipe (the template as written, the parameters as written and
    the ``--set`` overrides), with ``environ``: how ``aftershock recover`` gets a header back."""
    from chaos.templating import (  # Jinja2: recorded secrets only
        TemplateProblem,
        make_environment,
        render_string,
    )

    template = recipe.get("template")
    if not isinstance(template, str):
        raise InvalidExperiment(Problem("a recorded secret has no template"))
    env = make_environment()
    raw_params = recipe.get("parameters")
    raw_overrides = recipe.get("overrides")
    params, _, problems = render_params(env, raw_params if isinstance(raw_params, dict) else {},
                                         raw_overrides if isinstance(raw_overrides, dict) else {}, environ, "", {})
    if problems:
        raise InvalidExperiment(problems)
    try:
        return str(revealed(render_string(env, template, params.context, params.secret_names)))
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
