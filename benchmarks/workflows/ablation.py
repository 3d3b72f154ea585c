"""Where HeliumSQL's lead over the vLLM-style system comes from: a 2 x 2 on every workload.

    python -m benchmarks.workflows.ablation [--quick] [--repeats N] [--json FILE]

One axis is the plan (optimizer and workflow runtime on or off: rewrites, per-node dedup,
depth-first issue order across operators, pinned prefixes); the other is the engine's admission
policy (the shipped scheduler, which admits in depth-first order and lets a request wait for a
block another request is computing, or the vLLM-style FCFS scheduler that does neither).
``vllm_style`` is (off, FCFS) and ``heliumsql`` is (on, shipped) in the suite; the two mixed
cells split the difference between them. Same model, timing and figures as the suite.

>>> python -m benchmarks.workflows.ablation --quick        # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.prefix_tree import distinct_prompt_tokens
from benchmarks.workflows.engines import ReactiveEngine, RecordingEngine
from benchmarks.workflows.model import FULL_SHAPE, QUICK_SHAPE, build_model
from benchmarks.workflows.suite import CPU_THREADS, WORKLOADS, _measure
from benchmarks.workflows.systems import SqlSystem

CELLS = (  # (name, optimizer on, engine class)
    ("plan_off_fcfs", False, ReactiveEngine),
    ("plan_off_shipped", False, RecordingEngine),
    ("plan_on_fcfs", True, ReactiveEngine),
    ("plan_on_shipped", True, RecordingEngine),
)


def run(quick: bool, repeats: int, seed: int = 0) -> list[dict[str, Any]]:
    """Median wall time and prefill figures of every cell on every workload."""
    model, tokenizer = build_model(QUICK_SHAPE if quick else FULL_SHAPE, seed)
    systems = [SqlSystem(name, name, model, tokenizer, "cpu", engine, optimize)
               for name, optimize, engine in CELLS]
    rows = []
    for workload in WORKLOADS:
        sizes = workload.sizes["quick" if quick else "full"]
        runs = _measure(systems, workload, sizes, workload.data(sizes, seed), repeats, "cpu")
        for name, measured in runs.items():
            engine = measured.figures.engine
            computed = engine["computed_prefill_tokens"]
            rows.append(dict(workload=workload.name, cell=name,
                             wall_s=statistics.median(measured.times), wall_s_runs=measured.times,
                             computed_prefill_tokens=computed, requests=len(measured.figures.issued),
                             prefill_efficiency=distinct_prompt_tokens(measured.figures.issued) / computed))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(CPU_THREADS)
    rows = run(args.quick, args.repeats)
    base = {r["workload"]: r["wall_s"] for r in rows if r["cell"] == "plan_off_fcfs"}
    print(f"{'workload':12} {'cell':17} {'wall s':>7} {'vs off/fcfs':>11} {'requests':>8} "
          f"{'prefill':>8} {'eff.':>6}")
    for r in rows:
        print(f"{r['workload']:12} {r['cell']:17} {r['wall_s']:7.2f} "
              f"{base[r['workload']] / r['wall_s']:10.2f}x {r['requests']:8d} "
              f"{r['computed_prefill_tokens']:8d} {r['prefill_efficiency']:6.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
