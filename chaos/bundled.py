"""The files shipped with Aftershock: the Chaos Mesh manifest templates (``manifests/``) and the
example experiments (``experiments/``) and game days (``gamedays/``).

In the repository they are top-level folders (the product's layout); the wheel ships them as
package data inside ``chaos`` (``chaos/manifests``, ``chaos/experiments``, mapped by
``setup.py``), found with :mod:`importlib.resources`. A source checkout (editable install) has
no copy inside the package and uses the folders themselves. Callers: ``chaos.templating``,
``chaos.clients.kube.settings`` (templates), ``aftershock demo`` / ``init`` / ``tui`` (examples).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

Bundle = Literal["manifests", "experiments", "gamedays"]


def bundled_dir(name: Bundle) -> Path:
    """The directory of the shipped ``manifests`` or ``experiments``."""
    packaged = files("chaos") / name
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / name


def manifests_dir() -> Path:
    return bundled_dir("manifests")


def examples_dir() -> Path:
    return bundled_dir("experiments")


def gamedays_dir() -> Path:
    return bundled_dir("gamedays")
