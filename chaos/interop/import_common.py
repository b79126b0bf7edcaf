"""What the importers share (pure): the result of an import (:class:`Converted`, :class:`Skipped`),
names (:func:`slug`), Chaos Toolkit configuration and secrets as ``spec.parameters`` (:class:`Params`,
:func:`substitute`), value coercions, and :func:`finish` (validate the result, setting aside one by
one the faults and SLOs that do not validate). Used by :mod:`chaos.interop.ctk_import` (Chaos
Toolkit experiments), :mod:`chaos.interop.ctk_native` and :mod:`chaos.interop.chaosmesh_import`
(Chaos Mesh objects).
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

REF_RE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
WHOLE_REF_RE = re.compile(r"^\$\{([A-Za-z0-9_.-]+)\}$")


def slug(text: str) -> str:
    """A DNS-1123 label from free text ("" when nothing is left); accents are transliterated
    (``¿Qué ocurre…`` → ``que-ocurre``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return out[:63].rstrip("-")


@dataclass(frozen=True)
class Skipped:
    """One part of the CTK experiment that is not in the result, and why."""

    where: str
    reason: str
    path: tuple[str | int, ...] = ()
    """Where in the source document (for its line number)."""

    def render(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Converted:
    experiment: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Values chosen because the CTK document has none (e.g. a default duration), and forms chosen."""
    fault_origins: list[str] = field(default_factory=list)
    """Per fault of the result, where it came from (``method[2] (name)``)."""
    fallbacks: dict[int, dict[str, Any]] = field(default_factory=dict)
    """fault index → its ``chaostoolkit`` form, used when another fault of the experiment runs in that form."""

    @property
    def outcome(self) -> Literal["full", "partial", "refused"]:
        """``full``: everything ran through; ``partial``: something was left out; ``refused``: no fault remains."""
        if not self.experiment.get("spec", {}).get("faults"):
            return "refused"
        return "partial" if self.skipped else "full"


class Unconvertible(Exception):
    def __init__(self, where: str, reason: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(reason)
        self.skip = Skipped(where, reason, path)


class NeedsRuntime(Exception):
    """The native form would need a value only known at run time: keep the CTK form."""


# ------------------------------------------------------------------------ configuration → parameters


def param_name(key: str) -> str:
    name = re.sub(r"\W", "_", key)
    if not name or name[0].isdigit() or name in ("env", "true", "false", "none"):
        name = "p_" + name
    return name


class Params:
    """``${key}`` (configuration or secrets) → ``{{ param }}``; the parameters it needs."""

    def __init__(self, configuration: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.configuration = configuration
        self.secret_values: dict[str, Any] = {}
        for scope in secrets.values():
            if isinstance(scope, dict):
                self.secret_values.update(scope)
        self.uses: dict[str, list[bool]] = {}
        """parameter → for each use, whether it is a place that takes values from the environment."""
        self.keys: dict[str, str] = {}

    def ref(self, key: str, sink: bool, where: str) -> str:
        if key in self.configuration:
            value = self.configuration[key]
        elif key in self.secret_values:
            value = self.secret_values[key]
            if not isinstance(value, dict) or value.get("type") != "env" or not sink:
                raise NeedsRuntime  # a secret goes only where Aftershock masks it; else chaoslib holds it
        else:
            raise Unconvertible(where, f"${{{key}}} is neither in the configuration nor in the secrets")
        if isinstance(value, dict) and "type" in value:
            if value.get("type") != "env" or not value.get("key"):
                raise NeedsRuntime  # dynamic configuration: only chaoslib can compute it
            if value.get("default") is None and not sink:
                raise NeedsRuntime
        name = param_name(key)
        self.uses.setdefault(name, []).append(sink)
        self.keys[name] = key
        return f"{{{{ {name} }}}}"

    def parameters(self, notes: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, uses in self.uses.items():
            key = self.keys[name]
            value = self.configuration.get(key, self.secret_values.get(key))
            if isinstance(value, dict) and value.get("type") == "env":
                env = str(value["key"])
                default = value.get("default")
                if all(uses):
                    if default is None:
                        out[name] = f"{{{{ env.{env} }}}}"
                    else:
                        escaped = str(default).replace("\\", "\\\\").replace("'", "\\'")
                        out[name] = f"{{{{ env.{env} | default('{escaped}') }}}}"
                else:
                    out[name] = default
                    notes.append(f"configuration.{key}: Chaos Toolkit reads ${env} at run time; Aftershock "
                                 f"takes it as parameter {name} (default {default!r}): "
                                 f"aftershock run --set {name}=…")
            else:
                out[name] = value
        return out


def substitute(value: Any, params: Params, where: str, sink: Callable[[str], bool]) -> Any:
    """``${key}`` references in ``value`` → ``{{ param }}`` (``sink(arg)``: the argument takes env values)."""

    def walk(v: Any, arg: str, at: str) -> Any:
        if isinstance(v, str):
            whole = WHOLE_REF_RE.match(v)
            if whole:
                return params.ref(whole.group(1), sink(arg), at)
            return REF_RE.sub(lambda m: params.ref(m.group(1), sink(arg), at), v)
        if isinstance(v, dict):
            return {k: walk(x, arg or str(k), f"{at}.{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, arg, f"{at}[{i}]") for i, x in enumerate(v)]
        return v

    return walk(value, "", where)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def as_pairs(value: Any) -> dict[str, str]:
    """``"k=v,k2=v2"`` or a mapping → labels."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in str(value).split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"selector {item!r} is not key=value")
        out[key.strip()] = val.strip()
    return out


def as_names(value: Any) -> list[str]:
    if not value:
        return []
    return [str(v).strip() for v in (value.split(",") if isinstance(value, str) else value)]


def as_number(value: Any) -> Any:
    if is_template(value):
        return value
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN")
    return number


def as_int(value: Any) -> Any:
    return value if is_template(value) else int(value)


def seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"



# ------------------------------------------------------------------------ validation, fault by fault

_ITEM_RE = re.compile(r"^spec\.(faults|slos)\[(\d+)\]")
PLACEHOLDER = "http://127.0.0.1:1"
"""The value every ``{{ env.NAME }}`` gets while the result is validated: import never reads the shell."""


def env_names(experiment: Mapping[str, Any]) -> set[str]:
    return set(re.findall(r"env\.([A-Za-z_][A-Za-z0-9_]*)", repr(experiment)))


def finish(converted: Converted, validate: Callable[[dict[str, Any], dict[str, str]], list[Any]]) -> list[Any]:
    """Validate the result; a fault or SLO that does not validate is set aside with the reason — one
    bad part is never fatal to the file. ``validate(document, environ)`` returns the loader's problems (``chaos.errors.Problem``).
    Returns the problems that are not about one fault or SLO (the result cannot be written)."""
    spec = converted.experiment.get("spec")
    if not isinstance(spec, dict):
        return []
    for _ in range(2 * (len(spec.get("faults", [])) + len(spec.get("slos", []))) + 1):
        if not spec.get("faults"):
            return []
        environ = dict.fromkeys(env_names(converted.experiment), PLACEHOLDER)
        problems = validate(copy.deepcopy(converted.experiment), environ)
        if not problems:
            return []
        per_item: dict[tuple[str, int], list[Any]] = {}
        other = []
        for problem in problems:
            match = _ITEM_RE.match(problem.path)
            if match:
                per_item.setdefault((match.group(1), int(match.group(2))), []).append(problem)
            else:
                other.append(problem)
        if not per_item:
            return other
        drop_faults: set[int] = set()
        for (section, index), item_problems in sorted(per_item.items()):
            text = "; ".join(f"{p.path}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in item_problems)
            if section == "faults":
                # a value the native form refuses would fail under `chaos run` too: reported, not kept
                drop_faults.add(index)
                origin = converted.fault_origins[index] if index < len(converted.fault_origins) else f"fault {index}"
                converted.skipped.append(Skipped(origin, f"refused: {text}"))
            else:
                slo = spec["slos"][index]
                converted.skipped.append(Skipped(f"SLO {slo.get('name')}", f"refused: {text}"))
                slo["drop"] = True
        if drop_faults:
            spec["faults"] = [f for i, f in enumerate(spec["faults"]) if i not in drop_faults]
            converted.fault_origins = [o for i, o in enumerate(converted.fault_origins) if i not in drop_faults]
            kept = [i for i in range(len(spec["faults"]) + len(drop_faults)) if i not in drop_faults]
            converted.fallbacks = {kept.index(i): f for i, f in converted.fallbacks.items() if i in kept}
        if any(s.get("drop") for s in spec.get("slos", [])):
            dropped = {s["name"] for s in spec["slos"] if s.get("drop")}
            spec["slos"] = [s for s in spec["slos"] if not s.get("drop")]
            spec["steadyState"] = [n for n in spec.get("steadyState", []) if n not in dropped]
            if not spec["slos"]:
                spec.pop("slos")
            if not spec["steadyState"]:
                spec.pop("steadyState")
    return []
