"""The ``workflows`` suite: six agentic workflows written in HeliumSQL, four systems, one model.

    python benchmarks/run.py --suite workflows [--quick] [--json FILE]

Workloads (``benchmarks/workflows/<name>.py``): multi-agent analysis, map-reduce summarization,
parallel exploration, debate, record queries, a semantic join. Systems (:mod:`benchmarks.workflows.systems`):
naive, agent framework, vLLM-style, HeliumSQL. Each (workload, system) is timed ``repeats``
times, interleaved across systems, each run from a fresh engine and database (the median is
reported; the naive and agent systems run once: they are slow and far from HeliumSQL). Every call is greedy with a fixed
``max_tokens`` and the model never emits EOS (:mod:`benchmarks.workflows.model`), so decode
lengths are equal across systems and every system's answers must equal the naive system's;
differences are reported as ``mismatches``.

Figures per (workload, system): wall time and its ratios, prefill efficiency (distinct prompt
tokens of the union prefix tree of the prompts the system issued / prefill tokens it computed),
KV cache hit rate (prompt tokens served from cache / prompt tokens), planning time per query.

>>> report = run(RunOptions(quick=True))                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from benchmarks.harness import NAMED_SHAPES, count_forward_tokens, cpu_name, progress
from benchmarks.prefix_tree import ForwardWork, distinct_prompt_tokens
from benchmarks.record import RunOptions, Target
from benchmarks.workflows import (debate, exploration, map_reduce, multi_agent, records,
                                  semantic_join)
from benchmarks.workflows.model import FULL_SHAPE, QUICK_SHAPE, build_model, describe
from benchmarks.workflows.results import GeoMeanTarget, PlanningTarget, WorkflowReport, WorkflowResult
from benchmarks.workflows.engines import RecordingHFEngine
from benchmarks.workflows.systems import SqlSystem, make_systems
from benchmarks.workflows.workload import Tables, Workload

SUITE = "workflows"
SUBJECT = "heliumsql"
REFERENCE = "naive"
# Timed once whatever --repeats says: each takes minutes and is far from HeliumSQL, so the
# medians of the close contest (vllm_style vs heliumsql) get the repeats instead.
SINGLE_RUN = frozenset({"naive", "agent"})
WORKLOADS: tuple[Workload, ...] = (multi_agent.WORKLOAD, map_reduce.WORKLOAD,
                                   exploration.WORKLOAD, debate.WORKLOAD, records.WORKLOAD,
                                   semantic_join.WORKLOAD)
# One intra-op thread on CPU unless the thread count was chosen (run.py --threads sets
# OMP_NUM_THREADS): on a shared 2-core machine, two OpenMP threads that keep losing their core to
# other processes made the same forward pass 3-15x slower and erratic.
CPU_THREADS = 1

TARGETS: list[Target] = [
    *(Target(w.name, SUBJECT, None, 0.95) for w in WORKLOADS),
    GeoMeanTarget("all", SUBJECT, "vllm_style", 1.5),
    GeoMeanTarget("all", SUBJECT, REFERENCE, 10.0),
    PlanningTarget("all", SUBJECT, None, 0.0, maximum_ms=50.0),
]


def selected(opts: RunOptions) -> list[Workload]:
    """The workloads ``opts`` asks for, in suite order; unknown names or presets are errors."""
    names = {w.name for w in WORKLOADS}
    unknown = sorted(set(opts.workloads) - names)
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; the suite has {sorted(names)}")
    chosen = [w for w in WORKLOADS if not opts.workloads or w.name in opts.workloads]
    for w in chosen:
        if opts.preset not in w.sizes:
            raise SystemExit(f"workload {w.name} has no size {opts.preset!r}; it has {sorted(w.sizes)}")
    return chosen


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _mismatches(reference: list[list[tuple]], answers: list[list[tuple]]) -> int:
    """Rows (over every statement) that one side has and the other lacks, as multisets."""
    total = abs(len(reference) - len(answers))
    for ref, got in zip(reference, answers):
        a, b = Counter(ref), Counter(got)
        total += max(sum((a - b).values()), sum((b - a).values()))
    return total


@dataclass
class _Runs:
    """One system's timed runs on one workload; answers, figures and forward tokens are the
    last run's."""

    times: list[float] = field(default_factory=list)
    answers: list[list[tuple]] = field(default_factory=list)
    forward: int = 0
    figures: Any = None


def _run_once(system: Any, workload: Workload, sizes: Any, tables: Tables, device: str,
              runs: _Runs) -> None:
    """Prepare a fresh engine and database (untimed), time one run, then release the engine."""
    system.prepare(workload, tables)
    try:
        _synchronize(device)
        with count_forward_tokens(system.model) as counter, torch.inference_mode():
            start = time.perf_counter()
            answers = system.run(workload, sizes)
            _synchronize(device)
            runs.times.append(time.perf_counter() - start)
        system.after_run(workload, sizes)
        runs.answers = [sorted(rows, key=repr) for rows in answers]
        runs.forward, runs.figures = counter[0], system.figures
    finally:
        system.release()


def _measure(systems: list[Any], workload: Workload, sizes: Any, tables: Tables, repeats: int,
             device: str) -> dict[str, _Runs]:
    """Time every system on ``workload``, interleaved: round r runs each system once, so load
    from other processes spreads over all systems rather than landing on one."""
    runs = {s.name: _Runs() for s in systems}
    for round_ in range(repeats):
        for system in systems:
            if round_ and system.name in SINGLE_RUN:
                continue
            progress(f"workflows: {workload.name} / {system.name} (run {round_ + 1})")
            _run_once(system, workload, sizes, tables, device, runs[system.name])
    return runs


def _optimized_reference(model: Any, tokenizer: Any, device: str, workload: Workload,
                         sizes: Any, tables: Tables) -> list[list[tuple]]:
    """The answers of the optimized plan computed by Hugging Face ``generate`` (untimed): what
    HeliumSQL must equal where its rewrites change prompts on purpose."""
    progress(f"workflows: {workload.name} / answers of the optimized plan by HF generate")
    check = SqlSystem("naive_optimized", "optimizer on, HF generate", model, tokenizer, device,
                      RecordingHFEngine, optimize=True)
    try:
        check.prepare(workload, tables)
        with torch.inference_mode():
            return [sorted(rows, key=repr) for rows in check.run(workload, sizes)]
    finally:
        check.release()


def _result(workload: Workload, system: Any, runs: _Runs, mismatches: int,
            num_statements: int, work: ForwardWork) -> WorkflowResult:
    figures = runs.figures
    engine = figures.engine
    issued = figures.issued
    generated = engine.get("generated_tokens", 0)
    mean_prompt = sum(map(len, issued)) / len(issued) if issued else 0.0
    decode = generated * (work.per_token + work.per_key * mean_prompt)
    return WorkflowResult(
        suite=SUITE, workload=workload.name, system=system.name, label=system.label,
        wall_s_runs=tuple(runs.times), num_requests=len(figures.issued),
        prompt_tokens=engine.get("prompt_tokens", 0),
        distinct_prompt_tokens=distinct_prompt_tokens(figures.issued),
        computed_prefill_tokens=engine.get("computed_prefill_tokens"),
        generated_tokens=engine.get("generated_tokens", 0), mismatches=mismatches,
        forward_tokens=runs.forward, config=dict(system.config),
        cached_tokens=engine.get("cached_tokens"), planning_s=tuple(figures.planning_s),
        evictions=engine.get("evictions"), num_statements=num_statements,
        work_all=work.prefill(issued, shared=False) + decode, work_min=work.prefill(issued) + decode)


def run(opts: RunOptions) -> WorkflowReport:
    """Measure every system on every workload and return the suite's report."""
    from heliumsql.engine.model_loader import resolve_dtype

    shape = QUICK_SHAPE if opts.quick else FULL_SHAPE
    if opts.shape is not None:
        shape = NAMED_SHAPES[opts.shape]
    dtype = resolve_dtype(opts.dtype, opts.device)
    threads = torch.get_num_threads()
    if opts.device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(CPU_THREADS)
    try:
        model, tokenizer = build_model(shape, opts.seed, opts.device, dtype)
        work = ForwardWork.of(model)
        systems = make_systems(model, tokenizer, opts.device)
        results: list[WorkflowResult] = []
        setup: dict[str, Any] = dict(
            model=describe(model, shape), device=opts.device,
            dtype=str(dtype).removeprefix("torch."), repeats=opts.repeats,
            reference_system=REFERENCE, torch_threads=torch.get_num_threads(), size=opts.preset,
            workloads={},
            systems={s.name: s.label for s in systems})
        for workload in selected(opts):
            sizes = workload.sizes[opts.preset]
            tables = workload.data(sizes, opts.seed)
            statements = workload.statements(sizes)
            setup["workloads"][workload.name] = dict(
                description=workload.description, sizes=asdict(sizes),
                rows={name: len(rows) for name, rows in tables.items()}, statements=statements)
            runs = _measure(systems, workload, sizes, tables, max(opts.repeats, 1), opts.device)
            reference = runs[REFERENCE].answers
            for system in systems:
                measured = runs[system.name]
                result = _result(workload, system, measured, _mismatches(reference, measured.answers),
                                 len(statements), work)
                if result.mismatches and system.name == SUBJECT:
                    result = replace(result, plan_mismatches=_mismatches(
                        _optimized_reference(model, tokenizer, opts.device, workload, sizes,
                                             tables), measured.answers))
                results.append(result)
        setup["machine"] = dict(
            cpu=cpu_name(), cores=os.cpu_count(),
            gpu=torch.cuda.get_device_name() if opts.device.startswith("cuda") else None)
    finally:
        torch.set_num_threads(threads)
    report = WorkflowReport(SUITE, results, TARGETS, SUBJECT, setup)
    console = Console()
    # Ten columns do not fit the 80 columns rich assumes when writing to a pipe or a file.
    print_extra(report, console if console.is_terminal else Console(width=140))
    return report


def print_extra(report: WorkflowReport, console: Console) -> None:
    """The figures the runner's generic table leaves out: cache hits, planning, evictions."""
    table = Table(title="workflows: KV cache and planning")
    for column in ("workload", "system", "requests", "prompt tok", "distinct", "hit rate",
                   "evictions", "planning ms (max)", "mism.", "vs same plan"):
        table.add_column(column, justify="left" if column in ("workload", "system") else "right")
    for r in report.results:
        assert isinstance(r, WorkflowResult)
        table.add_row(r.workload, r.system, str(r.num_requests), str(r.prompt_tokens),
                      str(r.distinct_prompt_tokens),
                      "-" if r.kv_hit_rate is None else f"{r.kv_hit_rate:.3f}",
                      "-" if r.evictions is None else str(r.evictions),
                      "-" if r.max_planning_ms is None else f"{r.max_planning_ms:.1f}",
                      str(r.mismatches),
                      "-" if r.plan_mismatches is None else str(r.plan_mismatches))
    console.print(table)
    console.print(_bound_table(report))


def work_bound(results: list[WorkflowResult], workload: str) -> tuple[float, float] | None:
    """(measured speedup of the subject over the reference, the FLOP bound on it) for
    ``workload``, when both systems ran it."""
    rows = {r.system: r for r in results if r.workload == workload}
    ref, sub = rows.get(REFERENCE), rows.get(SUBJECT)
    if ref is None or sub is None or not ref.work_all or not sub.work_min:
        return None
    return ref.wall_s / sub.wall_s, ref.work_all / sub.work_min


def _bound_table(report: WorkflowReport) -> Table:
    table = Table(title=f"workflows: {SUBJECT} over {REFERENCE}, measured and bounded by "
                        "forward FLOPs")
    for column in ("workload", f"{REFERENCE} GFLOP", f"{SUBJECT} GFLOP (min)", "bound",
                   "measured", "measured / bound"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    results = [r for r in report.results if isinstance(r, WorkflowResult)]
    for workload in dict.fromkeys(r.workload for r in results):
        figures = work_bound(results, workload)
        if figures is None:
            continue
        rows = {r.system: r for r in results if r.workload == workload}
        measured, bound = figures
        table.add_row(workload, f"{rows[REFERENCE].work_all / 1e9:.0f}",
                      f"{rows[SUBJECT].work_min / 1e9:.0f}", f"{bound:.2f}x", f"{measured:.2f}x",
                      f"{measured / bound:.2f}")
    return table

