"""What the runtime decided as a query ran, reported by ``EXPLAIN ANALYZE`` (``QueryStats``).

>>> PipelineRun(3, 8, 0).early
8
"""

from __future__ import annotations

from dataclasses import dataclass

# Rows that must have met a filter first before its pass rate is estimated from those alone.
MIN_LEAD_ROWS = 8


@dataclass(frozen=True)
class ChainRun:
    """How the runtime ran one filter chain adaptively (EXPLAIN ANALYZE): per member of
    ``members``, the rows that reached it (``seen``) and that it kept (``passed``), and of
    those the rows that met it first (``lead_seen``/``lead_passed``); ``orders`` lists each
    order used with the number of rows that entered the chain with it.

    >>> run = ChainRun((2, 1), (16, 64), (15, 6), (16, 48), (15, 5), (((2, 1), 16), ((1, 2), 48)))
    >>> round(run.selectivity(1), 3), round(run.selectivity(2), 3)
    (0.12, 0.889)
    """

    members: tuple[int, ...]
    seen: tuple[int, ...]
    passed: tuple[int, ...]
    lead_seen: tuple[int, ...]
    lead_passed: tuple[int, ...]
    orders: tuple[tuple[tuple[int, ...], int], ...]

    def selectivity(self, member: int) -> float:
        """The learned pass rate, smoothed (``(passed + 1) / (seen + 2)``), over the rows that
        met the member first once there are ``MIN_LEAD_ROWS`` of them: rows that reach it after
        another filter are a biased sample when filters are correlated (the order would then
        flip back and forth); over every row that reached it before that."""
        k = self.members.index(member)
        if self.lead_seen[k] >= MIN_LEAD_ROWS:
            return (self.lead_passed[k] + 1) / (self.lead_seen[k] + 2)
        return (self.passed[k] + 1) / (self.seen[k] + 2)


@dataclass(frozen=True)
class PipelineRun:
    """How node ``node`` was pipelined (EXPLAIN ANALYZE): ``early`` requests were submitted
    while its upstream nodes still ran, ``wasted`` of them were not in its final input.

    >>> PipelineRun(3, 8, 0).early
    8
    """

    node: int
    early: int
    wasted: int
