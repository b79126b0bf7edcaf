"""Demo support: local services and a real Prometheus for ``aftershock demo`` and the tests.

Callers: the demo command and the test suites (``tests/monitor``, end-to-end tests). Nothing in the run
engine depends on this package.
"""
