"""Tests of the run engine's I/O-free lifecycle (``chaos.engine.runs``)."""
