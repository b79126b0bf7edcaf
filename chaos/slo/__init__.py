"""SLO evaluation (pure) and monitoring (async polling of Prometheus)."""
