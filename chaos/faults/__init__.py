"""The product's own fault kinds, one module each (``KIND = FaultKind(...)``), registered under the
``aftershock.faults`` entry-point group in pyproject.toml like a plugin's; shared renderings in
:mod:`.common`. docs/extending.md says how a kind is written."""
