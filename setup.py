"""Packaging glue that pyproject.toml cannot express: the top-level ``manifests/`` and
``experiments/`` folders are shipped inside the ``chaos`` package (``chaos/manifests``,
``chaos/experiments``) so an installed wheel finds them with importlib.resources
(``chaos.bundled``). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

BUNDLED = {"chaos.manifests": "manifests", "chaos.experiments": "experiments", "chaos.gamedays": "gamedays"}

setup(
    packages=[*find_packages(include=["chaos", "chaos.*", "tui", "tui.*"]), *BUNDLED],
    package_dir=BUNDLED,
    package_data={"chaos.manifests": ["*.j2"], "chaos.experiments": ["*.yaml"], "chaos.gamedays": ["*.yaml"],
                  "tui": ["*.tcss", "py.typed"], "chaos": ["*.html", "py.typed", "templates/*.j2"]},
)
