"""Rendering suite reports: a rich table per workload, target checks, and the JSON document.

>>> print_report(report, console)          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.record import SuiteReport


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: SuiteReport, console: Console) -> None:
    """One table per workload (systems as rows), then the targets with pass/fail."""
    speedups = {(r["workload"], r["baseline"]): r["speedup"] for r in report.ratios()}
    for workload in dict.fromkeys(r.workload for r in report.results):
        rows = [r for r in report.results if r.workload == workload]
        first = rows[0]
        table = Table(title=f"{report.suite} / {workload}: {first.num_requests} requests, "
                            f"{first.prompt_tokens} prompt tokens, "
                            f"{first.distinct_prompt_tokens} distinct")
        for column in ("system", "wall s", "runs", "speedup", "prefill", "eff.", "fwd tok",
                       "mism."):
            table.add_column(column, justify="left" if column == "system" else "right")
        for r in rows:
            table.add_row(
                r.system, f"{r.wall_s:.3f}", " ".join(f"{t:.2f}" for t in r.wall_s_runs),
                "-" if r.system == report.subject else f"{speedups[(workload, r.system)]:.2f}x",
                _fmt(r.computed_prefill_tokens, "d"), _fmt(r.prefill_efficiency, ".3f"),
                _fmt(r.forward_tokens, "d"), _fmt(r.mismatches, "d"))
        console.print(table)
    console.print(f"speedup = system's wall time / {report.subject}'s; prefill = prompt tokens "
                  "computed; eff. = distinct / prefill; mism. = requests whose tokens differ from "
                  "the first row's")
    for r in {r.system: r for r in report.results}.values():
        config = ", ".join(f"{k}={v}" for k, v in r.config.items())
        console.print(f"  {r.system}: {r.label}" + (f" ({config})" if config else ""))
    for check in report.target_checks():
        mark = {True: "[green]met[/]", False: "[red]MISSED[/]", None: "[yellow]n/a[/]"}[check["met"]]
        console.print(f"  target {check['target']}: {_fmt(check['value'], '.2f')} {mark}")


def to_json(reports: list[SuiteReport], meta: dict[str, Any]) -> dict[str, Any]:
    return dict(meta=meta, suites={r.suite: r.to_json() for r in reports})
