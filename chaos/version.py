"""The package version, in a leaf module so that any layer can name it (journals, exports, the CLI,
the in-cluster image tag). The ONE place the version is written: pyproject.toml reads it
(``[tool.setuptools.dynamic]``), so the wheel's metadata and ``aftershock --version`` agree."""

__version__ = "0.1.0"
