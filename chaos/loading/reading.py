"""Bounded reading of YAML text files: size, UTF-8, no NUL; every failure an
:class:`~chaos.errors.InvalidExperiment` naming the file. Pure apart from the one ``open`` of the
file asked for. Callers: :mod:`chaos.loading.experiment`, :mod:`chaos.gameday.loading`,
``aftershock import``.
"""

from __future__ import annotations

import os

from chaos.errors import InvalidExperiment, Problem

MAX_FILE_BYTES = 1_000_000


def read_text_file(path: str | os.PathLike[str], what: str = "an experiment file") -> str:
    """A bounded UTF-8 YAML text file (experiments and game days); every failure an :class:`InvalidExperiment`."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidExperiment(Problem("no such file", file=name)) from None
    except IsADirectoryError:
        raise InvalidExperiment(Problem(f"is a directory, not {what}", file=name)) from None
    except OSError as exc:
        raise InvalidExperiment(Problem(f"cannot read: {exc.strerror}", file=name)) from None
    return decode_text(data, name)


def decode_text(data: bytes, source: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidExperiment(Problem(f"file larger than {MAX_FILE_BYTES} bytes; experiments are small",
                                        file=source))
    if b"\x00" in data:
        raise InvalidExperiment(Problem("binary data, not a YAML text file", file=source))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidExperiment(Problem(f"not UTF-8 text (byte {exc.start})", file=source)) from None
