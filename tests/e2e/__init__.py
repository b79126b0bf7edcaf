"""End-to-end tests: real Prometheus, real demo services, real faults, the real CLI."""
