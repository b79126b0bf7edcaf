"""Tests of the foundation: experiment model, loader, templating sandbox, Chaos Mesh compiler, CLI."""
