"""Screens of the TUI: experiments, detail/launch, live runs, history, schedules, help."""
