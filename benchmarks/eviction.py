"""Eviction benchmark: does a query slow down as the KV pool fills and starts evicting?

The same query shape runs again and again with fresh text (random token ids, so nothing is
shared between runs): ``--prompts`` prompts of ``--prompt-len`` tokens, one generated token
each, on a tiny random Llama with a pool of ``--blocks`` blocks. The first run starts on an
empty pool; after a few runs every admission must evict. Eviction is free when it costs
O(log n) per block; when it ranks every cached block on each call (the old code), runs on a
full pool take many times the first run's time. With ``--hook`` an eviction-priority hook like
the workflow's is installed (the old code called it for every cached block on every eviction).
With ``--sql`` each run is instead one SQL query over a fresh table of ``--prompts`` rows of
random text (``llm('Summarize: {txt}', max_tokens => 1)``), so the runtime installs its own
hook (the plan's remaining prefix uses), as a user's query would.

    python benchmarks/eviction.py --runs 12 --hook
    python benchmarks/eviction.py --runs 12 --sql

Prints one line per run (the median over ``--repeats`` fresh engines) and the ratio of each run's time to the first's; the target is every
run within 1.5x of the first.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from heliumsql.engine import Engine, SamplingParams
from heliumsql.testing import tiny_model

TARGET = 1.5


def measure(runs: int, prompts: int, prompt_len: int, blocks: int, hook: bool, seed: int = 0
            ) -> list[float]:
    """Seconds per run, run 0 on an empty pool."""
    eng = _engine(blocks)
    vocab = eng.model.get_input_embeddings().num_embeddings
    if hook:
        # Like the workflow's remaining-uses hook: a lookup on the prefix's tokens.
        eng.set_eviction_priority(lambda tokens: float(len(tokens) % 3 == 0))
    rng = random.Random(seed)
    params = SamplingParams(max_tokens=1, ignore_eos=True)
    # Warm up (first-call costs) on a few blocks, so run 0 times the query, not the start.
    eng.generate([[rng.randrange(10, vocab) for _ in range(prompt_len)] for _ in range(8)], params)
    times = []
    for _ in range(runs):
        batch = [[rng.randrange(10, vocab) for _ in range(prompt_len)] for _ in range(prompts)]
        start = time.perf_counter()
        eng.generate(batch, params)
        times.append(time.perf_counter() - start)
    return times


def measure_sql(runs: int, rows: int, text_len: int, blocks: int, seed: int = 0) -> list[float]:
    """Seconds per SQL query, query 0 on an empty pool."""
    import heliumsql

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz     "
    con = heliumsql.connect(engine=_engine(blocks), result_cache=None)

    def query(num_rows: int = rows) -> float:
        texts = ["".join(rng.choice(letters) for _ in range(text_len)) for _ in range(num_rows)]
        con.duckdb.execute("CREATE OR REPLACE TABLE docs AS SELECT unnest($1) AS txt", [texts])
        start = time.perf_counter()
        con.sql("SELECT llm('Summarize: {txt}', max_tokens => 1) AS s FROM docs").fetchall()
        return time.perf_counter() - start

    query(8)  # warm-up (first-call costs) on a few blocks: query 0 starts on an empty pool
    times = [query() for _ in range(runs)]
    con.close()
    return times


def _engine(blocks: int) -> Engine:
    torch.set_num_threads(1)  # a tiny model gains nothing from threads; keeps timings steady
    with tempfile.TemporaryDirectory() as tmp:
        return Engine(tiny_model(Path(tmp) / "llama", "llama", seed=0), device="cpu",
                      num_blocks=blocks, block_size=16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--prompt-len", type=int, default=48)
    parser.add_argument("--blocks", type=int, default=2048)
    parser.add_argument("--hook", action="store_true", help="install an eviction-priority hook")
    parser.add_argument("--sql", action="store_true", help="each run is a SQL query")
    parser.add_argument("--repeats", type=int, default=3, help="report each run's median")
    args = parser.parse_args(argv)
    if args.sql:
        rounds = [measure_sql(args.runs, args.prompts, args.prompt_len, args.blocks, seed)
                  for seed in range(args.repeats)]
    else:
        rounds = [measure(args.runs, args.prompts, args.prompt_len, args.blocks, args.hook, seed)
                  for seed in range(args.repeats)]
    times = [statistics.median(r[i] for r in rounds) for i in range(args.runs)]
    for i, t in enumerate(times):
        print(f"run {i:2d}: {t:7.3f} s  ({t / times[0]:5.2f}x run 0)")
    worst = max(times) / times[0]
    later = statistics.median(times[1:]) / times[0] if len(times) > 1 else 1.0
    print(f"median later run / run 0: {later:.2f}x; worst: {worst:.2f}x "
          f"({'within' if worst <= TARGET else 'over'} the {TARGET}x target)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
