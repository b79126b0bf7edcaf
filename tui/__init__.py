"""Aftershock terminal UI (Textual). Talks to ``chaos`` only through engine events and commands."""
