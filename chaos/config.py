"""The one configuration story: a flag beats its environment variable, which beats the optional
config file (``$XDG_CONFIG_HOME/aftershock/config.yaml``, or ``--config`` / ``AFTERSHOCK_CONFIG``),
which beats the built-in default.

Every setting has ONE environment variable (:data:`ENV`); the config file only fills the variables
the environment does not already set, before a command parses its options, so commands, experiment
templates (``{{ env.AFTERSHOCK_PROMETHEUS_URL }}``), the Chaos Toolkit export and the processes
Aftershock starts all see the same value. The file is validated like an experiment: unknown keys,
wrong types and bad URLs are problems naming the file, line and key, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import InvalidExperiment, Problem

if TYPE_CHECKING:
    from chaos.model.config import Config

CONFIG_ENV = "AFTERSHOCK_CONFIG"


def default_path(environ: MutableMapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aftershock" / "config.yaml"


def load(path: Path) -> Config:
    """Read and validate a config file; a problem is an :class:`InvalidExperiment` naming file and line."""
    from pydantic import ValidationError

    from chaos.loading.reading import read_text_file
    from chaos.loading.validation_problems import problems_from_validation
    from chaos.loading.yaml_tree import parse_yaml
    from chaos.model.config import ENV, Config

    source = str(path)
    text = read_text_file(path, "a config file")
    data, lines = parse_yaml(text, source)
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise InvalidExperiment(Problem("a config file is a mapping of settings", file=source, line=1,
                                        hint=f"keys: {', '.join(ENV)}, color"))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise InvalidExperiment(problems_from_validation(exc, source, lines, root=Config)) from None


def apply(explicit: str | None = None, environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Fill the environment from the config file (``explicit``, else ``$AFTERSHOCK_CONFIG``, else the
    XDG default when it exists). Variables already set win. Returns the file used, if any."""
    named = explicit or environ.get(CONFIG_ENV)
    path = Path(named) if named else default_path(environ)
    if not named and not path.is_file():
        return None
    from chaos.model.config import ENV

    config = load(path)
    for key, value in config.model_dump(by_alias=True, exclude_none=True).items():
        if key in ENV:
            environ.setdefault(ENV[key], str(value))
    if config.color is False:
        environ.setdefault("NO_COLOR", "1")
    return path
