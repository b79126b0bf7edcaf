"""An example Aftershock plugin: one fault kind, one action, one probe (each a module with its ``KIND``)."""
