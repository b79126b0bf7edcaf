"""Monitor tests: SLO evaluation, the monitor against a real Prometheus, and ``aftershock check``."""
