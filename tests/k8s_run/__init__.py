"""End-to-end tests of ``aftershock run``/``recover`` and the Engine on the Kubernetes target (emulated API)."""
