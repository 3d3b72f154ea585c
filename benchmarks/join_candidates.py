"""``strategy => 'candidates', k => N`` against the exact LLM join: prompts sent, wall time and
recall of the exact strategy's matches.

The built-in model (the one task of its training that is a join: "does this review mention
{aspect}?") joins the demo reviews with the aspects of its lexicon; the candidates are ranked by
the connection's default embedding model, the built-in model's mean-pooled last hidden states
(weak by design: see heliumsql/embedding_model.py). A kept pair is asked the same prompt as
under the exact strategy, so every candidates match is an exact match: precision is 1, and
recall = candidates matches / exact matches is the whole accuracy story.

    python benchmarks/join_candidates.py [--k 1 2 3 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from importlib.resources import files

import heliumsql
from heliumsql.models.lexicon import ASPECTS

QUERY = ("SELECT r.id, a.aspect FROM reviews r JOIN aspects a "
         "ON llm_filter('Does this review mention {a.aspect}? {r.review}'{options})")


def _connection() -> heliumsql.connection.Connection:
    con = heliumsql.connect(result_cache=None)
    with files("heliumsql.demo_data").joinpath("reviews.csv").open() as f:
        reviews = [(int(r["id"]), r["review"]) for r in csv.DictReader(f)]
    con.sql("CREATE TABLE reviews(id INTEGER, review VARCHAR)")
    con.duckdb.executemany("INSERT INTO reviews VALUES (?, ?)", reviews)
    con.sql("CREATE TABLE aspects(aspect VARCHAR)")
    con.duckdb.executemany("INSERT INTO aspects VALUES (?)", [(a,) for a in ASPECTS])
    return con


def run(k: int | None, repeats: int) -> dict:
    """Median wall time over ``repeats`` fresh connections (no result cache), the rows, and
    the engine requests of the last run."""
    options = "" if k is None else f", strategy => 'candidates', k => {k}"
    times, rows, prompts = [], set(), 0
    for _ in range(repeats):
        con = _connection()
        con.sql("SELECT 1").fetchall()  # load the model outside the timing
        start = time.perf_counter()
        res = con.sql(QUERY.replace("{options}", options))
        rows = set(res.fetchall())
        times.append(time.perf_counter() - start)
        prompts = sum(s.engine_requests for s in res.analyze.operators.values())
        con.close()
    return {"k": k, "median_s": statistics.median(times), "runs_s": times, "prompts": prompts,
            "rows": sorted(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    exact = run(None, args.repeats)
    truth = set(map(tuple, exact["rows"]))
    print(f"{'strategy':<16} {'prompts':>8} {'median s':>9} {'matches':>8} {'recall':>7}")
    results = [exact]
    for k in [None, *args.k]:
        r = exact if k is None else run(k, args.repeats)
        found = set(map(tuple, r["rows"]))
        r["recall"] = len(found & truth) / len(truth) if truth else 1.0
        r["extra"] = len(found - truth)  # 0 by construction: a kept pair asks the same prompt
        name = "exact" if k is None else f"candidates k={k}"
        print(f"{name:<16} {r['prompts']:>8} {r['median_s']:>9.2f} {len(found):>8} "
              f"{r['recall']:>7.3f}")
        if k is not None:
            results.append(r)
    print(json.dumps([{key: v for key, v in r.items() if key != "rows"} for r in results]))


if __name__ == "__main__":
    main()
