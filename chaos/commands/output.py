"""What the global options of ``aftershock`` set up for every command: logging (``-v/-q``,
``--log-format text|json``, on stderr), ``NO_COLOR``, the ``-o yaml`` rendering of a command's JSON
output, and errors as JSON under ``-o json|yaml``.

``-o yaml`` is ``-o json`` rendered: the command writes its JSON (NDJSON events, or one document)
and :class:`YamlStdout` turns each JSON value into a YAML document (``---``) as it arrives, so a
streaming ``run -o yaml`` streams too, and the two formats can never disagree.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

import click

OUTPUT_KEY = "aftershock.output"
"""``click.Context.meta`` key: the ``-o`` format the user asked for (text, json or yaml)."""

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    """One JSON object per log record: time (RFC 3339, UTC), level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        from datetime import UTC, datetime

        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


LOGGING_KEY = "aftershock.logging"
"""``click.Context.meta`` key: the global ``(verbose, quiet, log_format)``, for commands that log more by default."""


def configure_logging(verbose: int, quiet: int, log_format: str | None, default: int = logging.WARNING) -> None:
    """Root logger on stderr: ``default`` (warning; ``gameday serve``: info) or ``$AFTERSHOCK_LOG_LEVEL``,
    each ``-v`` one level more (info, debug), each ``-q`` one less; ``--log-format json`` (or
    ``$AFTERSHOCK_LOG_FORMAT``) one JSON object a line."""
    base = LEVELS.get(os.environ.get("AFTERSHOCK_LOG_LEVEL", "").lower(), default)
    level = max(logging.DEBUG, min(logging.CRITICAL, base - 10 * verbose + 10 * quiet))
    fmt = (log_format or os.environ.get("AFTERSHOCK_LOG_FORMAT") or "text").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def reconfigure_logging(ctx: click.Context, default: int) -> None:
    """Logging again with a command's own default level (the global flags and format kept)."""
    verbose, quiet, log_format = ctx.meta.get(LOGGING_KEY, (0, 0, None))
    configure_logging(verbose, quiet, log_format, default)


def no_color() -> bool:
    """The NO_COLOR convention: a non-empty ``NO_COLOR`` turns colour off."""
    return bool(os.environ.get("NO_COLOR"))


def requested_output(ctx: click.Context | None = None) -> str:
    ctx = ctx or click.get_current_context(silent=True)
    return str(ctx.meta.get(OUTPUT_KEY, "text")) if ctx is not None else "text"


def output_callback(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``-o`` callback: remember the format asked for; a command sees ``json`` for ``yaml``."""
    ctx.meta[OUTPUT_KEY] = value
    if value == "yaml":
        start_yaml(ctx)
        return "json"
    return value


def start_yaml(ctx: click.Context) -> None:
    """Render what the command writes on stdout as YAML from here until the command returns."""
    if isinstance(sys.stdout, YamlStdout):
        return
    stream = YamlStdout(sys.stdout)
    sys.stdout = stream

    def restore() -> None:
        stream.close()
        sys.stdout = stream.target

    ctx.call_on_close(restore)


class YamlStdout:
    """A text stream that parses the JSON values written to it and writes them as YAML documents."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self._closed = False

    def write(self, text: str) -> int:
        self._buffer += text
        self._drain()
        return len(text)

    def _drain(self) -> None:
        import yaml

        while True:
            stripped = self._buffer.lstrip()
            if not stripped:
                self._buffer = ""
                return
            try:
                value, end = self._decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                if "\n" in stripped and not stripped.startswith(("{", "[", '"')):
                    line, _, rest = stripped.partition("\n")  # not JSON at all: passed through
                    self.target.write(line + "\n")
                    self._buffer = rest
                    continue
                self._buffer = stripped
                return
            self.target.write("---\n" + yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                                                       default_flow_style=False))
            self._buffer = stripped[end:]

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._buffer.strip():
            self.target.write(self._buffer)
        self._buffer = ""
        self.target.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def emit_error(ctx: click.Context, message: str, exit_code: int, problems: list[dict[str, Any]] | None = None) -> None:
    """Under ``-o json|yaml``: the error as one JSON object on stdout (besides the text on stderr)."""
    if requested_output(ctx) not in ("json", "yaml"):
        return
    doc: dict[str, Any] = {"type": "error", "message": message, "exit_code": exit_code}
    if problems:
        doc["problems"] = problems
    if requested_output(ctx) == "yaml" and not isinstance(sys.stdout, YamlStdout):
        import yaml

        sys.stdout.write("---\n" + yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False))
    else:
        sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()
