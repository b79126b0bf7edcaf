"""The product's probe kinds (``slos[].probe``), one module each, registered in ``pyproject.toml``
under ``aftershock.probes`` exactly like a plugin's. Their runners (the I/O) live in
``chaos.clients`` and are imported only when a run starts a probe."""
