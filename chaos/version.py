"""The package version, in a leaf module so that any layer can name it (journals, exports, the CLI)."""

__version__ = "0.1.0"
