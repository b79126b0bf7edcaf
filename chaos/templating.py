"""The one Jinja2 sandbox: experiment parameters (``{{ latency }}``, ``{{ env.X | default(..) }}``)
and the Chaos Mesh manifest templates in ``manifests/`` are rendered through it.

``env`` is an :class:`EnvView`: it resolves names (``env.NAME``, ``env['NAME']``) and nothing
else — ``{{ env }}``, iterating it or dumping it is refused, so a template never renders the whole
environment. :func:`render_string` reports a result as a :class:`~chaos.secrets.Secret` when its
template reads one of the ``secret_names`` (``env`` and parameters derived from it).

``SandboxedEnvironment`` + ``StrictUndefined``: attribute access to dunders is refused,
undefined variables are errors, and string/list multiplication and powers are bounded so a
template cannot blow up memory. Pure (reads templates given to it; the manifest directory
is resolved by the caller). Called by ``chaos.loading`` and ``chaos.compiling``.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta, nodes, pass_environment
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from chaos.bundled import manifests_dir
from chaos.secrets import Secret, mask

MAX_RENDERED_CHARS = 100_000
"""Longest string a template may produce."""

MAX_TEMPLATE_WORK = 1_000_000
"""Work budget of one render: loop iterations (weighted by the text of their body), characters
output by ``{{ }}``, and the size of what filters, method calls, ``~`` and ``+``/``*``/``%`` produce.
Nested loops, doubling in a loop or ``'a'|center(10**9)`` exhaust it long before memory or CPU do."""

MANIFESTS_DIR = manifests_dir()
"""The shipped manifest templates (package data in a wheel, ``manifests/`` in a checkout)."""

_BUDGET_ATTR = "_aftershock_budget"
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "slice", "batch"})
_STR_METHODS_WITH_WIDTH = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_BIG_FORMAT_RE = re.compile(r"[0-9]{6,}|\*|\{[^{}]*\{")
"""Width/precision that could allocate a huge string: a 6+ digit number, ``*``, or a nested ``{w}``."""


class TemplateProblem(Exception):
    """A template could not be rendered; the message is for the user."""


ENV_REFUSED = ("`env` resolves names only: write env.NAME (or env.NAME | default('...')); "
               "the whole environment is never rendered")


_ENV_UNDEFINED_RE = re.compile(r"EnvView object'? has no (?:attribute|element) '?([^'\s]+)")


class EnvView:
    """``env`` in templates: one variable by name, never the mapping (no str, iteration, length)."""

    __slots__ = ("_environ", "read")

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.read: list[str] = []
        """Values read by the current render (the parts of a secret; masked in its error messages)."""

    def __getitem__(self, name: Any) -> str:
        if not isinstance(name, str) or name not in self._environ:
            raise KeyError(name)
        value = self._environ[name]
        self.read.append(value)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._environ

    def __str__(self) -> str:
        raise SecurityError(ENV_REFUSED)

    def __repr__(self) -> str:
        return "<env>"

    def __iter__(self) -> Iterator[str]:
        raise SecurityError(ENV_REFUSED)

    def __len__(self) -> int:
        raise SecurityError(ENV_REFUSED)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 1


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox that also bounds the work of a render (see :data:`MAX_TEMPLATE_WORK`):
    ``'a' * 10**9``, nested ``range`` loops, ``|replace`` or ``|join`` amplification are refused."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def charge(self, amount: int) -> None:
        left = int(getattr(self, _BUDGET_ATTR, MAX_TEMPLATE_WORK)) - max(amount, 0)
        setattr(self, _BUDGET_ATTR, left)
        if left < 0:
            raise SecurityError("template does too much work (loops or output too large)")

    def reset_budget(self) -> None:
        setattr(self, _BUDGET_ATTR, MAX_TEMPLATE_WORK)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in template")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > 4096:
                raise SecurityError("number too large in template")
            return operator.pow(left, right)
        if operator_name == "%":
            if isinstance(left, str) and _BIG_FORMAT_RE.search(left):
                raise SecurityError("format width too large in template")
            result = operator.mod(left, right)
        elif operator_name == "+":
            _check_size(_size(left) + _size(right))
            result = operator.add(left, right)
        else:
            if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
                size = (len(left) if isinstance(left, str | list | tuple) else 1) * (
                    right if isinstance(right, int) else left if isinstance(left, int) else 1)
                if isinstance(size, int) and size > MAX_RENDERED_CHARS:
                    raise SecurityError("template output would be too large")
            result = operator.mul(left, right)
        return self._produced(result)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # str.format is wrapped
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            _check_str_method(owner, name, args, kwargs)
        return __self._produced(super().call(__context, __obj, *args, **kwargs))

    def _produced(self, value: Any) -> Any:
        size = _size(value)
        _check_size(size)
        self.charge(size)
        return value

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            body_text = sum(len(data.data) for part in loop.body for data in part.find_all(nodes.TemplateData))
            loop.iter = nodes.Filter(loop.iter, "_bounded_iter", [nodes.Const(1 + body_text)], [], None, None,
                                     lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            _replace_concat(tree, concat)
        return tree


def _replace_concat(tree: nodes.Node, concat: nodes.Concat) -> None:
    """``a ~ b`` → ``[a, b] | _bounded_concat`` (the sandbox has no hook for ``~``)."""
    replacement = nodes.Filter(nodes.List(list(concat.nodes), lineno=concat.lineno), "_bounded_concat",
                               [], [], None, None, lineno=concat.lineno)
    for parent in tree.find_all(nodes.Node):
        for field_name, value in parent.iter_fields():
            if value is concat:
                setattr(parent, field_name, replacement)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if item is concat:
                        value[i] = replacement


def _check_size(size: int) -> None:
    if size > MAX_RENDERED_CHARS:
        raise SecurityError("template output would be too large")


def _check_str_method(owner: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    values = [*args, *kwargs.values()]
    if name in _STR_METHODS_WITH_WIDTH:
        _check_size(max([v for v in values if isinstance(v, int)] + [0]))
    elif name in ("format", "format_map"):
        if _BIG_FORMAT_RE.search(owner):
            raise SecurityError("format width too large in template")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1])
    elif name == "join" and args:
        _check_join(owner, args[0])


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        _check_size(len(text) + count * len(new))


def _check_join(separator: Any, items: Any) -> None:
    if isinstance(items, list | tuple | str):
        _check_size(sum(_size(i) for i in items) + len(items) * _size(separator))


def _guard_filter(env: BoundedSandbox, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a built-in filter: refuse huge widths and amplification, charge what it produces."""

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        plain = [a for a in args if not isinstance(a, Context | EvalContext | Environment)]
        values = [*plain[1:], *kwargs.values()]
        if name in _WIDTH_FILTERS:
            _check_size(max([v for v in values if isinstance(v, int)] + [0]))
        elif name == "format" and plain and isinstance(plain[0], str) and _BIG_FORMAT_RE.search(plain[0]):
            raise SecurityError("format width too large in template")
        elif name == "replace" and len(plain) >= 3:
            _check_replace(str(plain[0]), plain[1], plain[2])
        elif name == "join" and plain:
            items = plain[0] if isinstance(plain[0], list | tuple | str) else list(plain[0])
            _check_join(plain[1] if len(plain) > 1 else "", items)
            args = tuple(items if a is plain[0] else a for a in args)
        return env._produced(func(*args, **kwargs))

    return guarded


def _bounded_iter(env: BoundedSandbox, iterable: Any, cost: int) -> Iterator[Any]:
    for item in iterable:
        env.charge(cost)
        yield item


def _bounded_concat(env: BoundedSandbox, parts: list[Any]) -> str:
    texts = [str(p) for p in parts]
    return str(env._produced("".join(texts)))


def _bounded_lipsum(env: BoundedSandbox) -> Callable[..., Any]:
    original = cast(Callable[..., Any], env.globals["lipsum"])

    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        _check_size(n * max * 10)
        return env._produced(original(n=n, html=html, min=min, max=max))

    return lipsum


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _yaml_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _to_yaml_value(value: Any) -> str:
    """Filter ``tojson`` that is also valid YAML (JSON ⊂ YAML), for manifest templates.

    Non-ASCII characters become YAML escapes: ``\\uXXXX`` in the BMP, ``\\UXXXXXXXX`` beyond it
    (JSON's surrogate pairs would come back from a YAML parser as two lone surrogates)."""
    return _NON_ASCII_RE.sub(_yaml_escape, json.dumps(value, sort_keys=False, ensure_ascii=False))


@pass_environment
def _finalize(env: Environment, value: Any) -> Any:
    if isinstance(env, BoundedSandbox):
        env.charge(len(value) if isinstance(value, str) else 1)
    return value


def make_environment(template_dir: Path | None = None) -> BoundedSandbox:
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        loader=FileSystemLoader(str(template_dir)) if template_dir else None,
        finalize=_finalize,
    )
    for name, func in list(env.filters.items()):
        env.filters[name] = _guard_filter(env, name, func)
    env.filters["yaml"] = _to_yaml_value
    env.filters["_bounded_iter"] = functools.partial(_bounded_iter, env)
    env.filters["_bounded_concat"] = functools.partial(_bounded_concat, env)
    env.globals["lipsum"] = _bounded_lipsum(env)
    return env


def render_string(env: BoundedSandbox, text: str, context: Mapping[str, Any],
                  secret_names: frozenset[str] | set[str] = frozenset()) -> Any:
    """Render one string. A string that is only ``{{ expr }}`` yields a scalar of the right
    type (``"{{ percent }}"`` with percent=30 → 30); anything else yields a string. When the
    template reads any of ``secret_names``, the result is a :class:`Secret` (kept as text)."""
    if "{{" not in text and "{%" not in text and "{#" not in text:
        return text
    env.reset_budget()
    view = context.get("env")
    read: list[str] = view.read if isinstance(view, EnvView) else []
    read.clear()
    try:
        return _render(env, text, context, secret_names, read)
    except TemplateProblem as problem:
        raise TemplateProblem(mask(str(problem), read)) from problem.__cause__


def _render(env: BoundedSandbox, text: str, context: Mapping[str, Any], secret_names: frozenset[str] | set[str],
            read: list[str]) -> Any:
    try:
        tree = env.parse(text)
        tainted = bool(secret_names) and not meta.find_undeclared_variables(tree).isdisjoint(secret_names)
        rendered = env.from_string(tree).render(**context)
    except UndefinedError as exc:
        missing = _ENV_UNDEFINED_RE.search(exc.message or "")
        if missing:
            raise TemplateProblem(f"environment variable {missing.group(1)} is not set "
                                  f"(write env.{missing.group(1)} | default('...') to make it optional)") from exc
        raise TemplateProblem(f"undefined template variable: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateProblem(f"refused by the template sandbox: {exc}") from exc
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc.message or exc}") from exc
    except (ArithmeticError, TypeError, ValueError, OverflowError, RecursionError, MemoryError,
            AttributeError, LookupError) as exc:
        raise TemplateProblem(f"template error: {exc}") from exc
    if len(rendered) > MAX_RENDERED_CHARS:
        raise TemplateProblem("template output too large")
    if tainted:
        return Secret(rendered, parts=tuple(read), keep=False)
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        try:
            scalar = yaml.safe_load(rendered)
        except yaml.YAMLError:
            return rendered
        if isinstance(scalar, bool | int | float) or scalar is None:
            return rendered if scalar is None else scalar
    return rendered
