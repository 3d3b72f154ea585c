"""HeliumSQL benchmark runner: measure suites, print tables, write a JSON document.

    python benchmarks/run.py                       # every suite, full size, CPU
    python benchmarks/run.py --quick               # seconds-long smoke run
    python benchmarks/run.py --suite engine --device cuda --dtype bfloat16 --json out.json

A suite is a module ``benchmarks/<name>.py`` with ``run(RunOptions) -> SuiteReport`` (see
``benchmarks/record.py``), listed in ``SUITES``. Suites are imported only when selected, so a
machine without a suite's dependencies (duckdb on the GPU box) can still run the others.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> module; add a suite by writing benchmarks/<name>.py and listing it here.
SUITES = {"engine": "benchmarks.engine", "workflows": "benchmarks.workflows.suite"}


def _make_importable() -> None:
    """Let ``benchmarks.*`` and ``heliumsql.engine`` import from a plain checkout.

    Where the package is not pip-installed (the GPU machine has no network to install it), map
    ``heliumsql.engine`` onto ``engine/`` the way pyproject's ``package-dir`` does, by adding the
    repository root to the ``heliumsql`` package's search path.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        importlib.import_module("heliumsql.engine")
    except ModuleNotFoundError as exc:
        if exc.name != "heliumsql.engine":
            raise
        # ``heliumsql/__init__`` itself imports heliumsql.engine, so the search path must be in
        # place before it runs: load the package from its file with both locations.
        for name in [n for n in sys.modules if n == "heliumsql" or n.startswith("heliumsql.")]:
            del sys.modules[name]
        spec = importlib.util.spec_from_file_location(
            "heliumsql", ROOT / "heliumsql" / "__init__.py",
            submodule_search_locations=[str(ROOT / "heliumsql"), str(ROOT)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["heliumsql"] = module
        spec.loader.exec_module(module)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", choices=sorted(SUITES),
                        help="suite to run (repeatable; default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model and workloads, one repeat: a smoke test, not a measurement")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the JSON results (default benchmarks/out/<suites>-<device>.json)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (a measurement names its device)")
    parser.add_argument("--dtype", default=None,
                        help="float32, bfloat16 or float16 (default: float32 on CPU, bfloat16 on GPU)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per system, median reported (default 3; 1 with --quick)")
    parser.add_argument("--engine", default="heliumsql.engine.Engine",
                        help="class measured as HeliumSQL's engine; heliumsql.engine.HFGenerateEngine "
                             "(the reference backend) validates the harness")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice); use 1 on a machine "
                             "shared with other jobs, where idle OpenMP workers stall every op")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and prompts")
    parser.add_argument("--size", default=None,
                        help="workload size preset of the workflows suite: quick, full or large "
                             "(default: quick with --quick, else full)")
    parser.add_argument("--shape", default=None, choices=["1b"],
                        help="model shape instead of the suite's own: 1b (hidden 2048, 16 layers, "
                             "32/8 heads, random weights; for GPU runs)")
    parser.add_argument("--workload", action="append", default=[],
                        help="run only this workload of a suite (repeatable; default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        # Before torch is imported: threads that transformers starts (continuous batching runs
        # its loop in one) take their OpenMP team size from the environment, not from the caller.
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    _make_importable()
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import transformers
    from rich.console import Console

    from benchmarks.record import RunOptions
    from benchmarks.report import print_report, to_json

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    names = args.suite or list(SUITES)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    opts = RunOptions(quick=args.quick, device=args.device, dtype=args.dtype, repeats=repeats,
                      seed=args.seed, engine=args.engine, size=args.size,
                      workloads=tuple(args.workload), shape=args.shape)
    console = Console()
    if not console.is_terminal:
        # Piped to a file or a CI log: rich would fold the tables at 80 columns.
        console = Console(width=120)
    reports = []
    for name in names:
        console.rule(f"suite {name}")
        report = importlib.import_module(SUITES[name]).run(opts)
        print_report(report, console)
        reports.append(report)
    meta = dict(command="python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                python=platform.python_version(), torch=torch.__version__,
                transformers=transformers.__version__, quick=args.quick, device=args.device,
                torch_threads=torch.get_num_threads())
    path = args.json or ROOT / "benchmarks" / "out" / (
        "-".join(names) + f"-{args.device.replace(':', '')}{'-quick' if args.quick else ''}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(reports, meta), indent=2) + "\n")
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
