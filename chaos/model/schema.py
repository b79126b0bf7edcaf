"""JSON Schema of the experiment and game-day formats, generated from the pydantic models (the one
definition of the format), for editors (``# yaml-language-server: $schema=...``) and CI linters.
Printed by ``aftershock schema``; the repository's ``schemas/*.json`` are this output (a test
regenerates and compares them). Pure.

The files are templates before they are experiments: a number, a boolean or a constrained string
may be written as a Jinja expression (``percent: "{{ percent }}"``), rendered from
``spec.parameters`` when the file is loaded. The schema says so: each such field also accepts a
string holding ``{{ ... }}``. Type discriminators (``type``, ``action``, ``kind``) stay exact.
Loading remains the authority (it also checks cross-field rules a schema cannot express).
"""

from typing import Any, Literal

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

Kind = Literal["experiment", "gameday"]
KINDS: tuple[Kind, ...] = ("experiment", "gameday")
TEMPLATE = {"type": "string", "pattern": r"\{\{.*\}\}", "description": "a Jinja expression rendered on load"}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Generator(GenerateJsonSchema):
    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        # chaos.secrets.Secret: a string (a literal, or a template such as {{ env.NAME }})
        return {"type": "string"}


def _templatable(node: Any) -> Any:
    if isinstance(node, list):
        return [_templatable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _templatable(value) for key, value in node.items()}
    kind = out.get("type")
    scalar = kind in ("integer", "number", "boolean") or (kind == "string" and ("pattern" in out or "enum" in out))
    if scalar and "const" not in out:
        keep = {k: out.pop(k) for k in ("title", "description", "default") if k in out}
        return {**keep, "anyOf": [out, TEMPLATE]}
    return out


def json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an ``Experiment`` or ``GameDay`` document."""
    from chaos.model.experiment import Experiment
    from chaos.model.gameday import GameDay

    model = Experiment if kind == "experiment" else GameDay
    schema = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    schema = _templatable(schema)
    return {"$schema": DIALECT, "$id": f"https://aftershock.dev/schemas/{kind}.json",
            "title": f"Aftershock {model.__name__}", **{k: v for k, v in schema.items() if k != "title"}}
