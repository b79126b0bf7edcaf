"""Click commands of the ``aftershock`` CLI, one module per command family (lazily loaded by ``chaos.cli``)."""
