"""Experiment files → validated :class:`~chaos.model.Experiment` (:class:`Loaded`), or every
problem at once: bounded read → YAML with lines → parameters and templates → pydantic model →
cross-field and policy checks. Re-exported by :mod:`chaos.loading`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chaos.errors import InvalidExperiment, Problem
from chaos.loading.origins import from_parameter
from chaos.loading.parameters import render_document
from chaos.loading.paths import PathT, place
from chaos.loading.reading import decode_text, read_text_file
from chaos.loading.validation_problems import problems_from_validation
from chaos.loading.yaml_tree import parse_yaml
from chaos.model.checks import check_experiment, check_policies, check_raw_references
from chaos.model.experiment import Experiment, experiment_model


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


def load_bytes(data: bytes, source: str = "", overrides: Mapping[str, str] | None = None,
               environ: Mapping[str, str] | None = None) -> Loaded:
    return load_text(decode_text(data, source), source, overrides=overrides, environ=environ)


def load_text(text: str, source: str = "", overrides: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None) -> Loaded:
    doc, lines = parse_yaml(text, source)
    return load_parsed(doc, lines, source, overrides=overrides, environ=environ)


def load_parsed(doc: Any, lines: dict[PathT, int], source: str = "", overrides: Mapping[str, str] | None = None,
                environ: Mapping[str, str] | None = None) -> Loaded:
    """:func:`load_text` of a document :func:`~chaos.loading.yaml_tree.parse_yaml` already parsed
    (a caller that reads ``kind`` first parses the file once)."""
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}"
        raise InvalidExperiment(Problem(f"the document is {kind}, expected a mapping with apiVersion, kind, "
                                        "metadata and spec", file=source, line=1))
    written = doc
    origins: dict[PathT, str] = {}
    doc, parameters = render_document(doc, source, lines, overrides or {}, os.environ if environ is None else environ,
                              origins)
    model = experiment_model(doc)  # narrowed to the kinds the file names: only their modules are imported
    try:
        exp = model.model_validate(doc)
    except ValidationError as exc:
        problems = problems_from_validation(exc, source, lines, model)
        # the references too, in the same pass: a file with a typo and a wrong SLO name shows both
        seen = {p.path for p in problems}
        problems += [place(p, source, lines) for p in check_raw_references(doc) if p.path not in seen]
        raise InvalidExperiment([from_parameter(p, lines, origins, overrides or {}) for p in problems]) from None

    problems = check_experiment(exp)
    known = {(p.path, p.message) for p in problems}
    problems += [p for p in check_policies(exp.spec.policies) if (p.path, p.message) not in known]
    if problems:
        raise InvalidExperiment([from_parameter(place(p, source, lines), lines, origins, overrides or {})
                                 for p in problems]) from None
    return Loaded(experiment=exp, source=source, raw=doc, lines=lines, written=written, parameters=parameters)
