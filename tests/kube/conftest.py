"""Fixtures of the tests that run against the real control plane (see :mod:`kube.testbed`), the
Chaos Mesh stand-in (:mod:`kube.standin`) and the fault proxy in front of the API server
(:mod:`kube.apiproxy`)."""

from kube.apiproxy import api_proxy
from kube.standin import standin
from kube.testbed import kube_testbed

__all__ = ["api_proxy", "kube_testbed", "standin"]
