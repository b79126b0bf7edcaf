"""``aftershock schema``: JSON Schema generated from the models. The shipped ``schemas/*.json`` are
exactly the command's output, every example names its schema in a yaml-language-server modeline
and validates against it, and a misspelt key or a wrong type is caught by the schema as by loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from chaos.model.schema import KINDS, json_schema

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "aftershock"
FOLDER = {"experiment": "experiments", "gameday": "gamedays"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_schema_is_the_command_output(kind: str) -> None:
    done = subprocess.run([str(BIN), "schema", kind], capture_output=True, text=True, timeout=60, check=True)
    shipped = (REPO / "schemas" / f"{kind}.json").read_text()
    assert done.stdout == shipped, f"regenerate: aftershock schema {kind} --out schemas/{kind}.json"
    schema = json.loads(shipped)
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", KINDS)
def test_every_example_carries_the_modeline_and_validates(kind: str) -> None:
    validator = jsonschema.Draft202012Validator(json_schema(kind))
    files = sorted((REPO / FOLDER[kind]).glob("*.yaml"))
    assert files
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../schemas/{kind}.json", path
        assert (path.parent / first.split("=", 1)[1]).resolve() == REPO / "schemas" / f"{kind}.json"
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path, errors)


def test_the_schema_catches_what_loading_catches() -> None:
    validator = jsonschema.Draft202012Validator(json_schema("experiment"))
    doc = yaml.safe_load((REPO / "experiments" / "payment-latency.yaml").read_text())
    assert not list(validator.iter_errors(doc))
    misspelt = json.loads(json.dumps(doc))
    misspelt["spec"]["faults"][0]["latncy"] = misspelt["spec"]["faults"][0].pop("latency")
    assert list(validator.iter_errors(misspelt))
    wrong_kind = {**doc, "kind": "Experimnet"}
    assert list(validator.iter_errors(wrong_kind))
    templated = json.loads(json.dumps(doc))  # a template where a number goes is accepted, text is not
    templated["spec"]["slos"][0]["objective"]["value"] = "{{ threshold }}"
    assert not list(validator.iter_errors(templated))
    templated["spec"]["slos"][0]["objective"]["value"] = "fast"
    assert list(validator.iter_errors(templated))


def test_init_writes_the_schema_the_copied_examples_name(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    subprocess.run([str(BIN), "init", str(target)], capture_output=True, text=True, timeout=60, check=True)
    schema = json.loads((target / "experiment.schema.json").read_text())
    assert schema == json_schema("experiment")
    validator = jsonschema.Draft202012Validator(schema)
    copies = sorted(target.glob("*.yaml"))
    assert copies
    for path in copies:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=experiment.schema.json", path
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text())))
