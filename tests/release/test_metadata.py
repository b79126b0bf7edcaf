"""Packaging: one version, the metadata a packager expects, a typed package, a changelog.
(The built wheel and sdist themselves are checked by ``scripts/wheel-test.sh``: twine check
--strict, LICENSE and py.typed inside.)"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from chaos.gameday.incluster import DEFAULT_IMAGE
from chaos.version import __version__

REPO = Path(__file__).resolve().parents[2]


def test_the_version_is_written_once_and_everything_derives_from_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("aftershock") == __version__
    assert DEFAULT_IMAGE.endswith(f":{__version__}")
    hits = [p for p in [*REPO.glob("chaos/**/*.py"), *REPO.glob("tui/**/*.py")]
            if p.name != "version.py" and re.search(rf"['\"]{re.escape(__version__)}['\"]", p.read_text())]
    assert hits == []


def test_metadata_names_licence_authors_urls_classifiers_and_pythons() -> None:
    meta = importlib.metadata.metadata("aftershock")
    assert meta["License-Expression"] == "Apache-2.0"
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert meta["Author"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(urls)
    classifiers = meta.get_all("Classifier") or []
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta["Requires-Python"] == ">=3.11"


def test_both_packages_are_marked_typed() -> None:
    assert (REPO / "chaos" / "py.typed").exists() and (REPO / "tui" / "py.typed").exists()


def test_the_changelog_has_the_current_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in text
