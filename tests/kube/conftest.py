"""Fixtures of the tests that run against the real control plane (see :mod:`kube.testbed`)."""

from kube.testbed import kube_testbed

__all__ = ["kube_testbed"]
