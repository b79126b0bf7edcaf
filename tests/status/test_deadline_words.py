"""``aftershock status`` says deadlines in words, never as a negative count of seconds."""

from __future__ import annotations

import pytest

from chaos.commands.status import deadline_words


@pytest.mark.parametrize(("left", "words"), [
    (-2.9e7, "deadline passed 335d 15h ago"), (250, "deadline in 4m 10s"), (3.2, "deadline in 3s"),
    (0, "deadline in 0s"), (90061, "deadline in 1d 1h"), (-42, "deadline passed 42s ago")])
def test_words(left: float, words: str) -> None:
    assert deadline_words(left) == words
