"""The result record every benchmark suite returns, and the figures derived from it.

A suite measures several *systems* on several *workloads* and returns a :class:`SuiteReport`:
one :class:`Result` per (workload, system), plus the :class:`Target` ratios it promises. The
runner prints and serializes these without knowing anything suite-specific.

>>> r = Result("engine", "shared_prefix", "heliumsql", "HeliumSQL", (0.5, 0.4, 0.6), 4, 100, 40,
...            40, 32, 0)
>>> r.wall_s, r.prefill_efficiency
(0.5, 1.0)
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    """One system measured on one workload.

    ``distinct_prompt_tokens`` is the size of the union prefix tree of the workload's prompts
    (the least prefill any system could do); ``computed_prefill_tokens`` is what the system
    itself reports it computed (``None`` when it cannot say). ``forward_tokens`` counts every
    token that went through the model's embedding layer (prefill, padding and decode), measured
    by a hook, as a cross-check on the system's own accounting. ``mismatches`` counts requests
    whose generated tokens differ from the suite's reference system.
    """

    suite: str
    workload: str
    system: str
    label: str
    wall_s_runs: tuple[float, ...]
    num_requests: int
    prompt_tokens: int
    distinct_prompt_tokens: int
    computed_prefill_tokens: int | None
    generated_tokens: int
    mismatches: int | None
    forward_tokens: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        """Median wall time over the timed repeats."""
        return statistics.median(self.wall_s_runs)

    @property
    def prefill_efficiency(self) -> float | None:
        """Distinct prompt tokens / computed prefill tokens; 1.0 is the physical limit."""
        if not self.computed_prefill_tokens:
            return None
        return self.distinct_prompt_tokens / self.computed_prefill_tokens

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["wall_s_runs"] = list(self.wall_s_runs)
        out.update(wall_s=self.wall_s, prefill_efficiency=self.prefill_efficiency)
        return out


@dataclass(frozen=True)
class Target:
    """A promise a suite checks: ``subject`` is at least ``minimum`` times faster than ``baseline``
    on ``workload`` (wall-time ratio), or, with ``baseline=None``, reaches a prefill efficiency of
    at least ``minimum``."""

    workload: str
    subject: str
    baseline: str | None
    minimum: float

    def measure(self, results: list[Result]) -> float | None:
        by_system = {r.system: r for r in results if r.workload == self.workload}
        subject = by_system.get(self.subject)
        if subject is None:
            return None
        if self.baseline is None:
            return subject.prefill_efficiency
        base = by_system.get(self.baseline)
        return None if base is None else base.wall_s / subject.wall_s

    def describe(self) -> str:
        if self.baseline is None:
            return f"{self.workload}: {self.subject} prefill efficiency >= {self.minimum:g}"
        return f"{self.workload}: {self.subject} >= {self.minimum:g}x faster than {self.baseline}"


@dataclass(frozen=True)
class SuiteReport:
    """Everything one suite measured: results, targets, and what the run was (model, workloads)."""

    suite: str
    results: list[Result]
    targets: list[Target]
    subject: str
    setup: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> list[dict[str, Any]]:
        """Wall-time ratio baseline / subject for every other system on every workload."""
        out = []
        for workload in dict.fromkeys(r.workload for r in self.results):
            rows = {r.system: r for r in self.results if r.workload == workload}
            subject = rows.get(self.subject)
            if subject is None:
                continue
            for name, r in rows.items():
                if name != self.subject:
                    out.append(dict(workload=workload, subject=self.subject, baseline=name,
                                    speedup=r.wall_s / subject.wall_s))
        return out

    def target_checks(self) -> list[dict[str, Any]]:
        checks = []
        for t in self.targets:
            value = t.measure(self.results)
            checks.append(dict(asdict(t), target=t.describe(), value=value,
                               met=None if value is None else value >= t.minimum))
        return checks

    def to_json(self) -> dict[str, Any]:
        return dict(suite=self.suite, subject=self.subject, setup=self.setup,
                    results=[r.to_json() for r in self.results], ratios=self.ratios(),
                    targets=self.target_checks())


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked every suite for.

    ``repeats`` is the number of timed runs per system (the median is reported); ``quick``
    shrinks models and workloads to a smoke test that takes seconds. ``engine`` names the class
    measured as HeliumSQL's engine (``module.attr``); the reference backend can stand in for it to
    validate the harness. ``size`` picks a suite's workload preset (default: ``quick`` with
    ``quick``, else ``full``) and ``workloads`` limits a suite to the named workloads (all when empty). ``shape`` names a model
    shape of ``harness.NAMED_SHAPES`` to run instead of the suite's own.
    """

    quick: bool = False
    device: str = "cpu"
    dtype: str | None = None
    repeats: int = 3
    seed: int = 0
    engine: str = "heliumsql.engine.Engine"
    size: str | None = None
    workloads: tuple[str, ...] = ()
    shape: str | None = None  # a name in harness.NAMED_SHAPES; None: the suite's own model

    @property
    def preset(self) -> str:
        """The workload size preset to run."""
        return self.size or ("quick" if self.quick else "full")
