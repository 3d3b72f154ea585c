"""What whole-query planning buys: the same queries through ``heliumsql.connect()`` and through
``heliumsql.duckdb.register()`` UDFs on a plain DuckDB connection.

    python benchmarks/udf_vs_connect.py [--model PATH] [--rows 240] [--json out.json]

Each (query, mode) pair gets a fresh engine on the same model, so no cache carries over. Both
modes must return the same rows (checked); the figures are wall time, LLM requests sent to the
engine, prompt tokens, prompt tokens actually computed (prefill) and generated tokens.
Without ``--model`` the built-in model is used, or a tiny random model when none is installed.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import torch

import heliumsql
import heliumsql.duckdb as hdb
from heliumsql.engine import Engine, SamplingParams

INSTRUCTION = ("You are a careful product analyst for an online shop. Read the customer review "
               "below and answer with one word. ")
PRODUCTS = ["headphones", "backpack", "kettle", "lamp", "keyboard", "blender", "tent", "watch",
            "jacket", "speaker", "router", "camera"]
PHRASES = ["great value, works perfectly", "stopped working after a week", "shipping took forever",
           "arrived quickly and well packed", "the battery barely lasts", "comfortable and sturdy",
           "too small for me", "customer service was helpful", "cheap plastic, feels fragile",
           "exactly as described"]

# (name, what it shows, heliumsql.connect() SQL, UDF SQL)
QUERIES = [
    ("map", "2,000 rows, 120 distinct prompts: deduplicated in both modes",
     f"SELECT id, llm('{INSTRUCTION}Is this review positive or negative? Product: {{product}}. "
     "Review: {review}', max_tokens => 4) AS label FROM reviews WHERE id < 2000 ORDER BY id",
     f"SELECT id, llm('{INSTRUCTION}Is this review positive or negative? Product: ' || product "
     "|| '. Review: ' || review, max_tokens => 4) AS label FROM reviews WHERE id < 2000 ORDER BY id"),
    ("selective", "200 rows scattered over the table: DuckDB hands the UDF one small batch per "
     "2,048-row chunk, the plan sends them to the engine as one batch",
     f"SELECT id, llm('{INSTRUCTION}Ticket {{id}}: is this review positive or negative? "
     "{review}', max_tokens => 8) AS label FROM reviews WHERE id % 100 = 0 ORDER BY id",
     f"SELECT id, llm('{INSTRUCTION}Ticket ' || id || ': is this review positive or negative? ' "
     "|| review, max_tokens => 8) AS label FROM reviews WHERE id % 100 = 0 ORDER BY id"),
    ("limit", "LIMIT 5 after ORDER BY: DuckDB's top-N runs before the UDF too",
     f"SELECT id, llm('{INSTRUCTION}Summarize: {{review}}', max_tokens => 4) AS s "
     "FROM reviews ORDER BY id LIMIT 5",
     f"SELECT id, llm('{INSTRUCTION}Summarize: ' || review, max_tokens => 4) AS s "
     "FROM reviews ORDER BY id LIMIT 5"),
    ("filter", "cheap predicates first: DuckDB also evaluates the UDF last",
     f"SELECT id FROM reviews WHERE llm_filter('{INSTRUCTION}Does this review mention shipping? "
     "{review}') AND stars <= 2 AND product = 'kettle' AND id < 2000 ORDER BY id",
     f"SELECT id FROM reviews WHERE llm_filter('{INSTRUCTION}Does this review mention shipping? ' "
     "|| review) AND stars <= 2 AND product = 'kettle' AND id < 2000 ORDER BY id"),
    ("workflow", "two stages: per-row analysts, then one llm_agg per product",
     f"WITH a AS (SELECT product, llm('{INSTRUCTION}Ticket {{id}}: positive or negative? "
     "{review}', max_tokens => 3) AS view FROM reviews WHERE id % 50 = 0) SELECT product, "
     "llm_agg('Decide keep or drop from these views:\n{view}', max_tokens => 3) AS decision "
     "FROM a GROUP BY product ORDER BY product",
     f"WITH a AS (SELECT product, llm('{INSTRUCTION}Ticket ' || id || ': positive or negative? ' "
     "|| review, max_tokens => 3) AS view FROM reviews WHERE id % 50 = 0) SELECT product, "
     "llm_agg('Decide keep or drop from these views:\n{}', view, max_tokens => 3) AS decision "
     "FROM a GROUP BY product ORDER BY product"),
]


@dataclass
class Figures:
    query: str
    mode: str
    seconds: float
    requests: int
    prompt_tokens: int
    computed_prefill_tokens: int
    generated_tokens: int
    engine_steps: int


def reviews_table(rows: int, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    return pa.table({"id": pa.array(range(rows), pa.int32()),
                     "product": [rng.choice(PRODUCTS) for _ in range(rows)],
                     "review": [rng.choice(PHRASES) for _ in range(rows)],
                     "stars": pa.array([rng.randint(1, 5) for _ in range(rows)], pa.int32())})


def load(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    con.register("reviews_arrow", rows)
    con.execute("CREATE TABLE reviews AS SELECT * FROM reviews_arrow")
    con.unregister("reviews_arrow")


def figures(name: str, mode: str, seconds: float, stats: dict[str, int], requests: int) -> Figures:
    return Figures(name, mode, seconds, requests, stats.get("prompt_tokens", 0),
                   stats.get("computed_prefill_tokens", 0), stats.get("generated_tokens", 0),
                   stats.get("steps", 0))


def fresh_engine(model: Any, device: str) -> Any:
    """A new engine (empty caches), warmed up so neither mode pays first-call costs."""
    engine = Engine(model, device=device)
    engine.generate(["warm up"], SamplingParams(max_tokens=2))
    return engine


def delta(engine: Any, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in engine.stats().items()}


def run_connect(model: Any, rows: pa.Table, name: str, sql: str, device: str
                ) -> tuple[list, Figures]:
    engine = fresh_engine(model, device)
    con = heliumsql.connect(engine=engine)
    load(con.duckdb, rows)
    before = engine.stats()
    started = time.perf_counter()
    result = con.sql(sql)
    out = result.fetchall()
    seconds = time.perf_counter() - started
    requests = result.analyze.llm_calls if result.analyze is not None else -1
    return out, figures(name, "connect", seconds, delta(engine, before), requests)


def run_udf(model: Any, rows: pa.Table, name: str, sql: str, device: str) -> tuple[list, Figures]:
    engine = fresh_engine(model, device)
    con = duckdb.connect()
    load(con, rows)
    fns = hdb.register(con, engine=engine)
    before = engine.stats()
    started = time.perf_counter()
    out = con.sql(sql).fetchall()
    seconds = time.perf_counter() - started
    return out, figures(name, "udf", seconds, delta(engine, before), fns.stats()["generated"])


def default_model() -> Any:
    try:
        from heliumsql.models import builtin_model_path

        path = builtin_model_path()
    except ImportError:
        path = None
    if path is not None:
        return path
    from heliumsql.testing import tiny_model

    return tiny_model(Path(tempfile.mkdtemp()) / "tiny", arch="llama")


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: built-in, else tiny)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the reviews table")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steady timings on a shared machine)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = args.model or default_model()
    rows = reviews_table(args.rows)
    results: list[Figures] = []
    for name, _, connect_sql, udf_sql in QUERIES:
        expected, a = run_connect(model, rows, name, connect_sql, args.device)
        got, b = run_udf(model, rows, name, udf_sql, args.device)
        if got != expected:
            raise SystemExit(f"{name}: the two modes disagree:\n{expected[:5]}\n{got[:5]}")
        results += [a, b]
    report(results, model, args.rows)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return results


def report(results: list[Figures], model: Any, rows: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"heliumsql.connect() vs DuckDB UDFs · {rows} rows · model {model}")
    for column in ("query", "mode", "time s", "requests", "prompt tok", "prefill tok",
                   "generated", "engine steps", "UDF/connect"):
        table.add_column(column, justify="left" if column in ("query", "mode") else "right")
    by_key = {(r.query, r.mode): r for r in results}
    for r in results:
        ratio = ""
        if r.mode == "udf":
            ratio = f"{r.seconds / max(by_key[(r.query, 'connect')].seconds, 1e-9):.2f}x"
        table.add_row(r.query, r.mode, f"{r.seconds:.2f}", str(r.requests), str(r.prompt_tokens),
                      str(r.computed_prefill_tokens), str(r.generated_tokens), str(r.engine_steps),
                      ratio)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
