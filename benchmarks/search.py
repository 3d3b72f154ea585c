"""Similarity search: exact top-k in DuckDB vs the usearch HNSW index behind ``llm_search``.

For each table size it reports, over random unit vectors (the hard case for an approximate
index: no clusters to exploit):

- ``exact``: the median time of DuckDB's ``array_cosine_similarity`` + ``ORDER BY ... LIMIT k``;
- ``build``: the time to read the rows and build the index (once per distinct data);
- ``indexed``: the median time of a search with the index already built, *including* the DuckDB
  scan that checks the data did not change (what ``llm_search`` pays on every query);
- ``recall@k``: the fraction of the exact top k the index finds, averaged over the queries.

``EXACT_SEARCH_ROWS`` in :mod:`heliumsql.vector_search` is set from where ``indexed`` beats
``exact``. Run: ``python benchmarks/search.py [--sizes 1000,10000,50000] [--dim 384]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
import numpy as np
import pyarrow as pa

from heliumsql.vector_search import VectorIndexes


def make_table(con: duckdb.DuckDBPyConnection, n: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    con.register("vectors_in", pa.table({"id": pa.array(np.arange(n)), "v": column}))
    con.execute("CREATE OR REPLACE TABLE docs AS SELECT * FROM vectors_in")
    con.unregister("vectors_in")


def recall(exact: list[int], found: list[int]) -> float:
    return len(set(exact) & set(found)) / len(exact)


def measure(n: int, dim: int, k: int, num_queries: int) -> dict[str, float]:
    con = duckdb.connect()
    make_table(con, n, dim)
    queries = np.random.default_rng(1).standard_normal((num_queries, dim)).astype(np.float32)
    indexes = VectorIndexes()
    exact_s, indexed_s, recalls = [], [], []
    build_s = 0.0
    for q in queries:
        start = time.perf_counter()
        exact, _ = indexes.search(con, "SELECT * FROM docs", "v", q, k, "exact")
        exact_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        found, run = indexes.search(con, "SELECT * FROM docs", "v", q, k, "index")
        elapsed = time.perf_counter() - start
        if run.built:
            build_s = run.build_s
        else:
            indexed_s.append(elapsed)
        recalls.append(recall(exact.column("id").to_pylist(), found.column("id").to_pylist()))
    return {"rows": n, "dim": dim, "exact_ms": 1000 * statistics.median(exact_s),
            "build_s": build_s, "indexed_ms": 1000 * statistics.median(indexed_s),
            "recall": statistics.mean(recalls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,50000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    print(f"{'rows':>8} {'dim':>5} {'exact ms':>9} {'build s':>8} {'indexed ms':>11} "
          f"{'recall@' + str(args.k):>10}")
    for n in (int(s) for s in args.sizes.split(",")):
        r = measure(n, args.dim, args.k, args.queries)
        print(f"{r['rows']:>8} {r['dim']:>5} {r['exact_ms']:>9.1f} {r['build_s']:>8.2f} "
              f"{r['indexed_ms']:>11.1f} {r['recall']:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
