"""The package version, in a leaf module so that any layer can name it (journals, exports, the CLI,
the in-cluster image tag). The ONE place the version is written: pyproject.toml reads it
(``[tool.setuptools.dynamic]``), so the wheel's metadata and ``aftershock --version`` agree."""

__version__ = "0.1.0"

RELEASE_IMAGE = f"ghcr.io/aftershock/aftershock:{__version__}"
"""The image built from the repository's Dockerfile (push it to your registry and pass its name):
the default of ``compile --in-cluster --image`` and of the reaper Job (``KubeSettings.reaper_image``)."""
