"""The workflow suite's result record and targets, on top of ``benchmarks/record.py``.

A :class:`WorkflowResult` is the runner's ``Result`` plus the figures workflows add: KV cache
hits, planning time per statement, evictions. :class:`GeoMeanTarget` checks a speedup as the
geometric mean over workloads; :class:`PlanningTarget` is an upper bound (planning per query).

>>> r = WorkflowResult("workflows", "debate", "heliumsql", "HeliumSQL", (1.0,), 4, 100, 40, 40,
...                    32, 0, cached_tokens=60, planning_s=(0.01, 0.02))
>>> r.kv_hit_rate, r.max_planning_ms
(0.6, 20.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.record import Result, SuiteReport, Target


@dataclass(frozen=True)
class WorkflowResult(Result):
    """``cached_tokens``: prompt tokens served from the KV cache (engine counter);
    ``planning_s``: planning time of each statement; ``evictions``: KV blocks evicted.
    ``plan_mismatches``: only where ``mismatches`` > 0, the rows that still differ from Hugging
    Face ``generate`` running the same optimized plan; 0 means every difference from the
    naive system comes from a documented prompt rewrite (record-style fields reordered), not
    from the engine or the runtime. ``work_all`` / ``work_min``: forward FLOPs of the run's
    requests with every prompt computed from scratch / with every distinct prompt token computed
    once (decode included in both, approximately: every generated token at the mean prompt
    length); ``naive.work_all / heliumsql.work_min`` bounds the speedup over naive on a device
    that both run at the same FLOP rate."""

    cached_tokens: int | None = None
    planning_s: tuple[float, ...] = ()
    evictions: int | None = None
    num_statements: int = 1
    plan_mismatches: int | None = None
    work_all: float | None = None
    work_min: float | None = None

    @property
    def kv_hit_rate(self) -> float | None:
        """Share of prompt tokens served from the KV cache rather than computed."""
        if self.cached_tokens is None or not self.prompt_tokens:
            return None
        return self.cached_tokens / self.prompt_tokens

    @property
    def max_planning_ms(self) -> float | None:
        return 1000 * max(self.planning_s) if self.planning_s else None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update(planning_s=list(self.planning_s), kv_hit_rate=self.kv_hit_rate,
                   max_planning_ms=self.max_planning_ms)
        return out


@dataclass(frozen=True)
class GeoMeanTarget(Target):
    """``subject`` is at least ``minimum`` times faster than ``baseline``, as the geometric mean
    of the wall-time ratios over every workload (``workload`` is ``"all"``)."""

    def measure(self, results: list[Result]) -> float | None:
        ratios = []
        for workload in dict.fromkeys(r.workload for r in results):
            rows = {r.system: r for r in results if r.workload == workload}
            if self.subject in rows and self.baseline in rows:
                ratios.append(rows[self.baseline].wall_s / rows[self.subject].wall_s)
        return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None

    def describe(self) -> str:
        return (f"geometric mean over workloads: {self.subject} >= {self.minimum:g}x faster "
                f"than {self.baseline}")


@dataclass(frozen=True)
class PlanningTarget(Target):
    """Every statement of ``subject`` plans in at most ``maximum_ms`` milliseconds."""

    maximum_ms: float = 50.0

    def measure(self, results: list[Result]) -> float | None:
        times = [r.max_planning_ms for r in results
                 if r.system == self.subject and isinstance(r, WorkflowResult)
                 and r.max_planning_ms is not None]
        return max(times) if times else None

    def describe(self) -> str:
        return f"{self.subject} planning time <= {self.maximum_ms:g} ms per query (slowest query)"


@dataclass(frozen=True)
class WorkflowReport(SuiteReport):
    """``SuiteReport`` whose checks also understand upper-bound targets (planning time)."""

    def target_checks(self) -> list[dict[str, Any]]:
        checks = []
        for t in self.targets:
            value = t.measure(self.results)
            if value is None:
                met = None
            elif isinstance(t, PlanningTarget):
                met = value <= t.maximum_ms
            else:
                met = value >= t.minimum
            checks.append(dict(asdict(t), target=t.describe(), value=value, met=met))
        return checks
