"""Test support shared across test directories and ``bench/`` (not a test directory itself)."""
