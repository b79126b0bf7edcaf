"""Bad input at scale: a generated corpus of malformed experiment files, each decided by the loader.

    .venv/bin/python bench/bench_bad_input.py [--seed 14] [--per-example 80]

Mutations of every example in ``experiments/`` (seeded): wrong types, out-of-range numbers, unknown
keys, missing keys, broken YAML (truncation, bad indentation, unclosed brackets, tabs), template
escapes and blow-ups, huge and deep inputs, alias bombs, invalid UTF-8. Each file goes through
``chaos.loading.load_bytes``; the outcome is one of: refused with a clear error (every problem
names the file, and a line or a field unless the problem is the whole file — its size, encoding or
depth), accepted (the mutation stayed valid), or a *traceback* (any other exception). Prints the
counts and the slowest decision. Also used by ``tests/resilience/test_bad_input.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "experiments").glob("*.yaml"))

TEMPLATE_ATTACKS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os }}",
    "{{ 'a' * 10**9 }}", "{% for i in range(10**9) %}x{% endfor %}", "{{ env }}", "{{ env | list }}",
    "{{ lipsum(10**6) }}", "{{ 'x'|center(10**9) }}", "{{ 9**9**9 }}", "{{ undefined_thing }}",
    "{{ self.__dict__ }}", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{{ 1/0 }}", "{{ unclosed",
    "{% for %}", "{{ env.HOME | int }}", "{{ '%999999999d' % 1 }}", "{{ range(10**8) | list }}",
]
WHOLE_FILE = ("larger than", "not UTF-8", "binary data", "nested deeper", "YAML nodes", "the document is")


@dataclass
class Case:
    name: str
    mutation: str
    data: bytes


@dataclass
class Outcome:
    case: Case
    verdict: str  # "clear" | "unclear" | "accepted" | "traceback"
    seconds: float
    detail: str = ""


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path, node


def _containers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _containers(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _containers(v, (*path, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return out


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


def mutations(example: Path, rng: random.Random, count: int) -> list[Case]:
    text = example.read_text()
    doc = yaml.safe_load(text)
    leaves = list(_leaves(doc))
    containers = list(_containers(doc))
    stem = example.stem
    cases: list[Case] = []

    def add(kind: str, data: bytes) -> None:
        cases.append(Case(f"{stem}-{len(cases):03d}-{kind}.yaml", kind, data))

    wrong = [[1, 2], {"a": 1}, True, -7, 3.5, None, "", "text", 10**30]
    ranges = [-1, 0, 101, 1e309, -1e309, 10**20, 65536, "-5s", "1000000h", "0s", "nan"]
    builders = [
        ("wrong-type", lambda: _dump(_set(doc, rng.choice(leaves)[0], rng.choice(wrong)))),
        ("out-of-range", lambda: _dump(_set(doc, rng.choice(leaves)[0], rng.choice(ranges)))),
        ("unknown-key", lambda: _dump(_set(doc, (*rng.choice(containers)[0], f"bogus{rng.randrange(99)}"), 1))),
        ("missing-key", lambda: _dump(_delete(doc, rng.choice(leaves)[0][:rng.randrange(1, 3)]))),
        ("template", lambda: _dump(_set(doc, rng.choice(leaves)[0], rng.choice(TEMPLATE_ATTACKS)))),
        ("truncated", lambda: text.encode()[:rng.randrange(1, len(text))] + b"\n  - [unclosed"),
        ("bad-indent", lambda: "\n".join(line if rng.random() > 0.1 else " " * rng.randrange(1, 5) + line
                                         for line in text.splitlines()).encode() + b"\n x: [\n"),
        ("tabs", lambda: text.replace("  ", "\t", rng.randrange(1, 5)).encode() + b"\n\t- x\n"),
        ("invalid-utf8", lambda: _insert(text.encode(), rng, bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE])]))),
        ("nul", lambda: _insert(text.encode(), rng, b"\x00")),
        ("deep", lambda: text.encode() + b"\nextra: " + b"[" * rng.randrange(50, 5000) + b"]" * 10),
        ("deep-map", lambda: text.encode() + b"\n" + b"".join(b" " * i + b"k:\n" for i in range(rng.randrange(45, 300)))),
        ("huge", lambda: text.encode() + b"\n# " + b"x" * rng.randrange(1_000_001, 2_000_000)),
        ("alias-bomb", lambda: _alias_bomb(rng) + text.encode()),
        ("not-a-mapping", lambda: rng.choice([b"- a\n- b\n", b"42\n", b"''\n", b"~\n", b"[1, 2]\n"])),
        ("duplicate-key", lambda: text.encode() + b"\nspec: {}\n"),
        ("binary-tag", lambda: text.replace("metadata:", "binary: !!binary aGVsbG8=\nmetadata:", 1).encode()),
        ("python-tag", lambda: text.replace("metadata:", "evil: !!python/object/apply:os.system ['true']\n"
                                            "metadata:", 1).encode()),
    ]
    while len(cases) < count:
        kind, build = builders[len(cases) % len(builders)]
        add(kind, build())
    return cases


def _insert(data: bytes, rng: random.Random, extra: bytes) -> bytes:
    at = rng.randrange(0, len(data))
    return data[:at] + extra + data[at:]


def _alias_bomb(rng: random.Random) -> bytes:
    levels = rng.randrange(8, 12)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def corpus(seed: int, per_example: int) -> list[Case]:
    rng = random.Random(seed)
    return [case for example in EXAMPLES for case in mutations(example, rng, per_example)]


def decide(case: Case) -> Outcome:
    from chaos.errors import InvalidExperiment
    from chaos.loading import load_bytes

    start = time.perf_counter()
    try:
        load_bytes(case.data, case.name, environ={"HOME": "/root"})
    except InvalidExperiment as exc:
        seconds = time.perf_counter() - start
        unclear = [p.render() for p in exc.problems
                   if not p.message or p.file != case.name
                   or (p.line is None and not p.path and not any(w in p.message for w in WHOLE_FILE))]
        if not exc.problems or unclear:
            return Outcome(case, "unclear", seconds, "; ".join(unclear) or "no problems listed")
        return Outcome(case, "clear", seconds, exc.problems[0].render()[:200])
    except BaseException as exc:
        return Outcome(case, "traceback", time.perf_counter() - start, f"{type(exc).__name__}: {exc}"[:300])
    return Outcome(case, "accepted", time.perf_counter() - start)


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    verdicts = Counter(o.verdict for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    return {"files": len(outcomes), "refused_clear": verdicts["clear"], "refused_unclear": verdicts["unclear"],
            "accepted_still_valid": verdicts["accepted"], "tracebacks": verdicts["traceback"],
            "mutations": dict(Counter(o.case.mutation for o in outcomes if o.verdict != "accepted")),
            "slowest_s": round(slowest.seconds, 3), "slowest_file": slowest.case.name,
            "over_1s": sum(1 for o in outcomes if o.seconds >= 1.0),
            "problems": [f"{o.case.name}: {o.verdict}: {o.detail}" for o in outcomes
                         if o.verdict in ("unclear", "traceback")][:20]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--per-example", type=int, default=80)
    args = parser.parse_args()
    print(json.dumps(report([decide(c) for c in corpus(args.seed, args.per_example)]), indent=2))


if __name__ == "__main__":
    main()
