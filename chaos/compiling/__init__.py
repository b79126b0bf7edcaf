"""Compilers: experiment model → Chaos Mesh objects (``kubernetes``) and host fault plans (``host``).

Pure: they read templates from ``manifests/`` and build values; they never talk to a cluster.
"""
