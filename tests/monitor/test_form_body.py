"""The monitor's form body (every byte percent-encoded) decodes to exactly what was sent."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

from chaos.clients.prometheus import form_body


def test_form_body_round_trips() -> None:
    rnd = random.Random(15)
    alphabet = [chr(c) for c in range(0, 0x250)] + ["€", "😀", "\u2028"]
    samples = ['histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="b", c=~"5.."}[5m]))) or y',
               "a b+c&d=e%f;g#h?i/j", ""]
    samples += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40))) for _ in range(300)]
    for text in samples:
        fields = {"query": text, "time": "1796064888.123", "timeout": "2.000"}
        assert parse_qs(form_body(fields).decode(), keep_blank_values=True, strict_parsing=True) == \
            {k: [v] for k, v in fields.items()}
