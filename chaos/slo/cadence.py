"""Scrape cadence and query batching: when can a query's answer change, and how to ask for many at once.

Callers: :mod:`chaos.slo.monitoring` (pacing, batching, staleness) and ``bench/bench_monitor.py``.
Pure: no I/O, no clock. PromQL is parsed with ``promql-parser`` (the Prometheus parser's rules,
as a library), never with regular expressions.

Prometheus only has new data right after a scrape: every sample of one target carries the
timestamp of the scrape that produced it, scrapes of a target repeat every *scrape interval* at a
fixed *phase*, and an expression such as ``rate(x[30s])`` evaluated between two scrapes gives the
same answer as right after the first. So the monitor learns, for each vector selector of each SLO
query, the newest sample's timestamp (``max(timestamp(sel))``, sent in the same request as the
SLO queries) and the interval (guessed from ``count_over_time(sel[1m])``, then measured between two
consecutive samples: ``max(timestamp(sel @ t))`` just before the newest one), and evaluates right after the next sample can exist (:meth:`Cadence.next_fresh`).

Batching: many instant queries become one PromQL expression, each labelled with its tag
(:data:`LABEL`, via ``label_replace``) and joined with ``or`` as a balanced tree (:func:`join`);
:func:`split` takes the answer apart. A large tick is cut into several such requests of about equal
cost (:func:`partition`, by :attr:`Plan.cost`), which Prometheus evaluates in parallel (one query
runs on one core). A query the parser rejects, a string literal, or one that Prometheus refuses
inside a batch is sent on its own (the monitor falls back and remembers it).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import promql_parser

from chaos.slo.evaluation import Point

LABEL = "aftershock_query"
"""Label that tags each member of a batched expression (removed from the answers)."""

LEARN_WINDOW = "1m"
LEARN_WINDOW_S = 60.0
STALE_INTERVALS = 3.0
"""A selector whose newest sample is older than this many scrape intervals has stopped updating."""
MIN_LAG_S = 0.005
MAX_LAG_FRACTION = 0.25
DEFAULT_SUBQUERY_STEP_S = 60.0
"""Step assumed for a subquery without one (Prometheus' default evaluation interval), for :attr:`Plan.cost`."""


@dataclass(frozen=True)
class Plan:
    """How one SLO query is batched and paced."""

    query: str
    selectors: tuple[str, ...]
    """Vector selectors with a metric name and without ``offset``/``@`` (their samples move with the
    scrapes), as PromQL."""
    scalar: bool = False
    batchable: bool = True
    cost: float = 1.0
    """Rough evaluation cost, to balance batches: the seconds of range selectors (samples scale with
    them) plus one per instant selector, times the points of any enclosing subquery."""


def _walk(node: object, out: list[str], cost: list[float], weight: float = 1.0) -> bool:
    """Collect live vector selectors and add up the cost; False when the expression cannot be batched."""
    if isinstance(node, promql_parser.VectorSelector):
        cost[0] += weight
        if node.offset is None and node.at is None and node.name:  # timestamp() of several names collides
            text = str(node)
            out.append(text[:-2] if text.endswith("{}") else text)
        return True
    if isinstance(node, promql_parser.MatrixSelector):
        cost[0] += weight * (max(node.range.total_seconds(), 1.0) - 1.0)  # + 1 for the selector itself
        return _walk(node.vector_selector, out, cost, weight)
    if isinstance(node, promql_parser.StringLiteral):
        return False
    if isinstance(node, promql_parser.Call):
        return all([_walk(arg, out, cost, weight) for arg in node.args])
    if isinstance(node, promql_parser.AggregateExpr):
        ok = _walk(node.expr, out, cost, weight)
        return (node.param is None or _walk(node.param, out, cost, weight)) and ok
    if isinstance(node, promql_parser.BinaryExpr):
        return all([_walk(node.lhs, out, cost, weight), _walk(node.rhs, out, cost, weight)])
    if isinstance(node, promql_parser.SubqueryExpr):
        step = node.step.total_seconds() if node.step else DEFAULT_SUBQUERY_STEP_S
        span = node.range.total_seconds() if node.range else step
        points = max(1.0, span / max(step, 1e-3))
        return _walk(node.expr, out, cost, weight * points)
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return _walk(node.expr, out, cost, weight)
    return True


def _is_scalar(node: object) -> bool:
    if isinstance(node, promql_parser.NumberLiteral):
        return True
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return _is_scalar(node.expr)
    if isinstance(node, promql_parser.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    if isinstance(node, promql_parser.Call):
        return bool(node.func.return_type == promql_parser.ValueType.Scalar)
    return False


def plan(query: str) -> Plan:
    """Parse ``query`` → its live selectors and whether it can join a batch."""
    try:
        tree = promql_parser.parse(query)
    except (ValueError, TypeError, RuntimeError):
        return Plan(query, (), batchable=False)
    found: list[str] = []
    cost = [1.0]
    batchable = _walk(tree, found, cost)
    return Plan(query, tuple(dict.fromkeys(found)), scalar=_is_scalar(tree), batchable=batchable, cost=cost[0])


def _tagged(expr: str, tag: str) -> str:
    return f'label_replace({expr}, "{LABEL}", "{tag}", "", "")'


def member(tag: str, p: Plan) -> str:
    """The batch member of an SLO query (a scalar is wrapped in ``vector()``)."""
    return _tagged(f"vector({p.query})" if p.scalar else f"({p.query})", tag)


def newest_probe(tag: str, selector: str) -> str:
    """Batch member: the newest sample timestamp of ``selector`` (absent when it has no live series)."""
    return _tagged(f"max(timestamp({selector}))", tag)


def count_probe(tag: str, selector: str) -> str:
    """Batch member: the most samples any series of ``selector`` has in the last :data:`LEARN_WINDOW`."""
    return _tagged(f"max(count_over_time({selector}[{LEARN_WINDOW}]))", tag)


def previous_probe(tag: str, selector: str, before: float) -> str:
    """Batch member: the newest sample timestamp of ``selector`` strictly before ``before`` (``@``)."""
    return _tagged(f"max(timestamp({selector} @ {before - 0.001:.3f}))", tag)


def join(members: Sequence[str]) -> str:
    """One PromQL expression answering every member: ``or`` nested as a balanced tree.

    ``a or b or c ...`` parses left-deep, and Prometheus hashes the whole left side at every
    ``or``, which makes a flat chain of n members cost O(n²) (800 members: 0.84 CPU-seconds of
    Prometheus as a chain, 0.48 as a tree; ``docs/benchmarks.md``, "Monitor"); the members' tags
    keep their series apart, so the grouping does not change the answer.
    """
    if not members:
        raise ValueError("nothing to join")
    if len(members) == 1:
        return members[0]
    half = len(members) // 2
    left, right = join(members[:half]), join(members[half:])
    return (f"({left})" if half > 1 else left) + " or " + (f"({right})" if len(members) - half > 1 else right)


def partition(costs: Sequence[float], size: int) -> list[list[int]]:
    """Indices of ``costs`` in ``ceil(n / size)`` groups of at most ``size`` and about equal total cost
    (largest first into the cheapest group); each group keeps its indices in order."""
    if size < 1:
        raise ValueError("size must be >= 1")
    groups = -(-len(costs) // size)
    if groups <= 1:
        return [list(range(len(costs)))] if costs else []
    heap = [(0.0, g) for g in range(groups)]
    out: list[list[int]] = [[] for _ in range(groups)]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        while True:
            total, g = heapq.heappop(heap)
            if len(out[g]) < size:
                break  # a full group leaves the heap for good
        out[g].append(i)
        heapq.heappush(heap, (total + costs[i], g))
    return [sorted(group) for group in out]


def split(points: Iterable[Point], tags: Iterable[str]) -> dict[str, tuple[Point, ...]]:
    """Take a batch answer apart by tag (the tag label is removed; unknown tags are dropped)."""
    out: dict[str, list[Point]] = {tag: [] for tag in tags}
    for p in points:
        tag = p.labels.get(LABEL)
        if tag is None or tag not in out:
            continue
        out[tag].append(Point({k: v for k, v in p.labels.items() if k != LABEL}, p.value))
    return {tag: tuple(v) for tag, v in out.items()}


# ------------------------------------------------------------------------------ cadence


class Cadence:
    """What the monitor knows about one selector's scrapes: interval, newest sample, ingestion lag.

    Feed it :meth:`saw` (the newest sample timestamp at an evaluation) and :meth:`guess_interval`
    (a sample count over :data:`LEARN_WINDOW_S`); ask :meth:`next_fresh` when the next sample can
    be queried and :meth:`stale` whether the selector stopped updating.
    """

    def __init__(self, lag_s: float = 0.02) -> None:
        self.interval_s: float | None = None
        self.newest: float | None = None
        self.lag_s = lag_s
        self.had_data = False
        self.late = 0
        """Evaluations that came before the expected sample was queryable (each raised the lag)."""
        self.confirmed = False
        """True once two consecutive samples gave the interval (a count only guesses it)."""
        self.anchor: float | None = None
        """The sample whose predecessor :func:`previous_probe` asks for."""

    def wants_previous(self) -> float | None:
        """The sample timestamp to ask the predecessor of (None: the interval is confirmed)."""
        if self.confirmed or self.newest is None:
            return None
        self.anchor = self.newest
        return self.newest

    def saw_previous(self, previous: float | None) -> None:
        """The answer of :func:`previous_probe` for :attr:`anchor`: two consecutive samples."""
        if previous is None or self.anchor is None or previous >= self.anchor:
            return
        self.interval_s = round(self.anchor - previous, 3)
        self.confirmed = True

    def guess_interval(self, count: float) -> None:
        """A first interval from the sample count of the last minute (refined by :meth:`saw`)."""
        if self.interval_s is None and count >= 2 and math.isfinite(count):
            self.interval_s = round(LEARN_WINDOW_S / count, 3)

    def saw(self, newest: float | None, eval_time: float) -> bool:
        """Record the newest sample timestamp seen at ``eval_time`` (None: no live series).

        Returns True when a sample newer than the last one arrived. When the sample expected by
        ``eval_time`` was not there yet, the ingestion lag doubles (bounded), so the next
        evaluation waits a little longer; on time, it decays slowly.
        """
        if newest is None:
            return False
        self.had_data = True
        previous = self.newest
        if previous is not None and newest < previous - 1e-6:  # went back in time: start over
            self.interval_s, previous, self.confirmed = None, None, False
        self.newest = newest
        if previous is not None and newest > previous + 1e-6:
            step = round(newest - previous, 3)
            if self.interval_s is None or step < self.interval_s * 0.95:
                self.interval_s = step  # a multiple of the interval: confirmed by previous_probe only
        interval = self.interval_s
        if interval is not None:
            expected = self._latest_due(eval_time)
            if expected is not None and newest < expected - interval * 0.5:
                self.late += 1
                self.lag_s = min(self.lag_s * 2 + MIN_LAG_S, interval * MAX_LAG_FRACTION)
            else:
                self.lag_s = max(MIN_LAG_S, self.lag_s * 0.95)
        return previous is None or newest > previous + 1e-6

    def _latest_due(self, eval_time: float) -> float | None:
        """Timestamp of the newest sample that should be queryable at ``eval_time``."""
        if self.interval_s is None or self.newest is None:
            return None
        k = math.floor((eval_time - self.lag_s - self.newest) / self.interval_s + 1e-9)
        return self.newest + max(k, 0) * self.interval_s

    @property
    def known(self) -> bool:
        return self.interval_s is not None and self.newest is not None

    def phase(self) -> float | None:
        if self.interval_s is None or self.newest is None:
            return None
        return self.newest % self.interval_s

    def next_fresh(self, after: float, *, taken_after: bool = False) -> float | None:
        """The first instant after ``after`` at which a newer sample can be queried (None: unknown).

        ``taken_after``: a sample *scraped* after ``after`` (not merely one that becomes queryable
        after it): a scrape just before ``after`` still in its ingestion lag does not count. The
        first evaluation after an injection asks for this one (no earlier scrape can show the fault).
        """
        if self.interval_s is None or self.newest is None:
            return None
        lag = 0.0 if taken_after else self.lag_s
        k = math.floor((after - lag - self.newest) / self.interval_s + 1e-9) + 1
        return self.newest + max(k, 1) * self.interval_s + self.lag_s

    def stale(self, newest: float | None, eval_time: float) -> str:
        """Why ``selector`` counts as stopped updating at ``eval_time`` ("" when it is live)."""
        if not self.had_data or self.interval_s is None:
            return ""
        if newest is None:
            return "its series went stale (no sample any more)"
        age = eval_time - newest
        if age > STALE_INTERVALS * self.interval_s + self.lag_s:
            return f"its newest sample is {age:.1f}s old (scrape interval {self.interval_s:g}s)"
        return ""


def pick_phase(phases: Sequence[float], interval_s: float) -> float:
    """One evaluation phase for selectors scraped at several phases: the phase that starts the
    largest gap between two phases, which minimises the worst staleness of any selector."""
    ordered = sorted(p % interval_s for p in phases)
    if len(ordered) == 1:
        return ordered[0]
    best, best_gap = ordered[-1], -1.0
    for i, p in enumerate(ordered):
        following = ordered[(i + 1) % len(ordered)] + (interval_s if i == len(ordered) - 1 else 0.0)
        gap = following - p
        if gap > best_gap:
            best, best_gap = p, gap
    return best


def next_evaluation(cadences: Mapping[str, Cadence], after: float, *, taken_after: bool = False) -> float | None:
    """The next instant at which every paced selector has had the chance of one fresh sample
    (``taken_after``: one scraped after ``after``, :meth:`Cadence.next_fresh`)."""
    known = [c for c in cadences.values() if c.known]
    if not known:
        return None
    if len(known) == 1:
        return known[0].next_fresh(after, taken_after=taken_after)
    interval = min(c.interval_s for c in known if c.interval_s is not None)
    phase = pick_phase([c.phase() or 0.0 for c in known], interval)
    lag = max(c.lag_s for c in known)
    k = math.floor((after - (0.0 if taken_after else lag) - phase) / interval + 1e-9) + 1
    return phase + k * interval + lag
