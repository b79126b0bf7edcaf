"""Chaos Toolkit interop: our experiments and journals in its formats, and a CTK extension."""
