"""Targets: where faults are realised (this host, or a Kubernetes cluster through Chaos Mesh).

Each target adapts the I/O clients (``chaos.clients``) to what the driver needs: pre-flight,
inject, remove (also from a bare state-store record, for ``recover``), shrink, set a backend
weight. Called by ``chaos.engine.driver`` and ``chaos.commands.recover``.
"""
