"""YAML → plain data and a map from field path to 1-based line, with hard bounds (depth,
node count after alias expansion, duplicate keys refused, binary values refused), and YAML syntax
errors as problems at the line where the faulty token starts. Pure. Callers:
:mod:`chaos.loading.experiment`, :mod:`chaos.gameday.loading`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from chaos.errors import InvalidExperiment, Problem
from chaos.loading.paths import PathT, format_path

MAX_NODES = 50_000
MAX_DEPTH = 40


_FAST = getattr(yaml, "CSafeLoader", None)
"""libyaml's loader when PyYAML has it (~10x faster than the pure-Python one): it composes the nodes of
a document that is valid YAML. Any YAML error sends the text to the pure-Python loader, whose error
words and marks the problems are written in."""


@contextmanager
def _composing(text: str, source: str) -> Iterator[yaml.SafeLoader]:
    """A loader over ``text`` whose YAML errors become located problems (depth checked first); disposed
    at the end. The one place :func:`parse_yaml` and :func:`parse_yaml_documents` read YAML nodes."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # the reader checks for unprintable characters up front
        at = text.count("\n", 0, exc.position) + 1
        raise InvalidExperiment(Problem(f"not valid YAML: unacceptable character #x{exc.character:04x}: "
                                        "special characters are not allowed", file=source, line=at)) from None
    try:
        _check_depth(text, source)
        yield loader
    except yaml.MarkedYAMLError as exc:
        raise InvalidExperiment(syntax_problem(exc, source, text)) from None
    except yaml.YAMLError as exc:
        raise InvalidExperiment(Problem(f"not valid YAML: {exc}", file=source)) from None
    except RecursionError:
        raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", file=source)) from None
    finally:
        loader.dispose()


def _compose_all(text: str, source: str, limit: int | None = None) -> list[yaml.Node | None]:
    """The nodes of every document (at most ``limit`` + 1 are read), composed by libyaml when it
    accepts the text, else by the pure-Python loader (which raises the located problem)."""
    def compose(loader: yaml.SafeLoader) -> list[yaml.Node | None]:
        nodes: list[yaml.Node | None] = []
        while loader.check_node():
            nodes.append(loader.get_node())
            if limit is not None and len(nodes) > limit:
                break
        return nodes

    with _composing(text, source) as slow:
        if _FAST is not None:
            fast = _FAST(text)
            try:
                return compose(fast)
            except yaml.YAMLError:
                pass  # reported below, in the pure-Python parser's words
            finally:
                fast.dispose()
        return compose(slow)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[PathT, int]]:
    """YAML → plain data and a map from field path to 1-based line, with hard bounds."""
    nodes = _compose_all(text, source, limit=1)
    if len(nodes) > 1:  # refused by the pure-Python composer, at the second document's line
        with _composing(text, source) as slow:
            slow.get_single_node()
    node = nodes[0] if nodes else None
    if node is None:
        return None, {}
    lines: dict[PathT, int] = {}
    counter = [0]
    constructor = yaml.SafeLoader("")
    data = _build(node, (), lines, counter, constructor, source, 0)
    return data, lines


_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (~30x faster than the pure-Python one): it only counts depth here."""


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting from the event stream (iterative) before the composer (recursive, slow
    near the interpreter's recursion limit) sees it: ``[[[[...`` is decided in milliseconds. A syntax
    error ends the count: the composer reports it, in the pure-Python parser's words."""
    depth = 0
    events = _EVENTS(text)
    try:
        while events.check_event():
            event = events.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", file=source, line=line))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return
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
        raise InvalidExperiment(Problem(f"nested deeper than {MAX_DEPTH} levels", path=format_path(path),
                                        file=source, line=node.start_mark.line + 1))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or node.start_mark
            raise InvalidExperiment(Problem(f"bad merge key: {exc.problem}", path=format_path(path), file=source,
                                            line=mark.line + 1)) from None
        merged = len(node.value) - own  # `<<: *anchor` entries come first; the mapping's own keys win
        out: dict[str, Any] = {}
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise InvalidExperiment(Problem("mapping keys must be plain strings", path=format_path(path),
                                                file=source, line=key_node.start_mark.line + 1))
            key = constructor.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float | bool) or key is None else repr(key)
            if index >= merged:
                if key in own_keys:
                    raise InvalidExperiment(Problem(f"duplicate key {key!r}", path=format_path((*path, key)),
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
        raise InvalidExperiment(Problem(f"bad value: {reason}", path=format_path(path), file=source,
                                        line=node.start_mark.line + 1)) from None
    if isinstance(value, bytes):
        raise InvalidExperiment(Problem("binary values are not allowed", path=format_path(path), file=source,
                                        line=node.start_mark.line + 1))
    if not isinstance(value, str | int | float | bool) and value is not None:
        value = node.value  # timestamps and the like stay text
    return value


MAX_DOCUMENTS = 64


def parse_yaml_documents(text: str, source: str) -> list[tuple[Any, dict[PathT, int]]]:
    """Every document of a multi-document YAML stream (``---``), each as :func:`parse_yaml` returns
    one, with the same bounds (the node count is shared: an alias bomb split over documents is
    refused too). Used by ``aftershock import`` for Chaos Mesh objects as ``kubectl apply`` reads them."""
    composed = _compose_all(text, source, limit=MAX_DOCUMENTS)
    if len(composed) > MAX_DOCUMENTS:
        raise InvalidExperiment(Problem(f"more than {MAX_DOCUMENTS} YAML documents", file=source))
    nodes = [node for node in composed if node is not None]
    counter = [0]
    constructor = yaml.SafeLoader("")
    out: list[tuple[Any, dict[PathT, int]]] = []
    for node in nodes:
        lines: dict[PathT, int] = {}
        out.append((_build(node, (), lines, counter, constructor, source, 0), lines))
    return out
