"""Widgets of the TUI: SLO chart, decision log, manifest view, fault and breaker panels."""
