"""Experiment files → validated :class:`~chaos.model.Experiment`, or every problem at once.

Pipeline: bounded read (:mod:`~chaos.loading.reading`: size, UTF-8, no NUL) → YAML compose with
node positions (:mod:`~chaos.loading.yaml_tree`: depth and alias-expansion bounded, duplicate
keys refused) → sandboxed Jinja2 parameters and ``--set`` overrides
(:mod:`~chaos.loading.parameters`; values from the environment: :mod:`~chaos.loading.env_values`;
problems reported where a value was written: :mod:`~chaos.loading.origins`) → pydantic model
(errors as problems: :mod:`~chaos.loading.validation_problems`) → cross-field checks
(:mod:`~chaos.loading.experiment`). Every refusal is a :class:`~chaos.errors.Problem` with file,
field path, line and a hint; nothing here raises anything but
:class:`~chaos.errors.InvalidExperiment`. Recorded secrets are rendered again by
:mod:`~chaos.loading.recipes`. Pure. Called by the CLI, the engine and the TUI.
"""

from __future__ import annotations

from chaos.loading.experiment import Loaded, load_bytes, load_file, load_parsed, load_text
from chaos.loading.paths import PathT
from chaos.loading.reading import MAX_FILE_BYTES, decode_text, read_text_file
from chaos.loading.recipes import from_record, render_recipe
from chaos.loading.yaml_tree import MAX_DEPTH, MAX_NODES, parse_yaml, syntax_problem

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "Loaded", "PathT", "decode_text", "from_record",
           "load_bytes", "load_file", "load_parsed", "load_text", "parse_yaml", "read_text_file", "render_recipe",
           "syntax_problem"]
