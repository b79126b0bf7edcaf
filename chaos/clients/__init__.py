"""I/O adapters of Aftershock: the only package that talks to clusters, hosts, Prometheus and files.

Callers: the run engine (``chaos.engine``), the CLI and ``aftershock recover``. Library exceptions are
translated here into :mod:`chaos.errors` classes.
"""
