"""The product's own policy actions, one module each (``KIND = ActionKind(...)``): the policy class,
how the policy engine decides it, its cross-field checks and its words. Registered under the
``aftershock.actions`` entry-point group in pyproject.toml like a plugin's (docs/extending.md)."""
