"""``ManifestView``: a compiled object (Kubernetes YAML) or host fault rule, syntax-highlighted.

Shown by the detail screen for each planned fault; follows the app's light/dark theme.
"""

from __future__ import annotations

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import Static


class ManifestView(Static):
    DEFAULT_CSS = """
    ManifestView { height: auto; padding: 0 1; margin: 0 0 1 0; }
    """

    def __init__(self, title: str, manifest: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.manifest = manifest

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self._draw(), init=True)

    def _draw(self) -> None:
        dark = self.app.current_theme.dark
        syntax = Syntax(self.manifest.rstrip("\n") or "# (nothing to show)", "yaml",
                        theme="monokai" if dark else "default", background_color="default",
                        word_wrap=True)
        self.update(Group(Text(self.title, style="bold"), syntax))
