"""Top-k similarity search over a vector column: exact in DuckDB, or through an HNSW index.

``llm_search`` asks :meth:`VectorIndexes.search` for the ``k`` rows of a relation whose vector
column is most similar (cosine) to a query vector.

- *exact*: DuckDB computes ``array_cosine_similarity`` for every row and keeps the top k
  (``ORDER BY score DESC LIMIT k``). Nothing is kept between queries.
- *index*: an HNSW index from usearch (the ``embed`` extra). usearch was chosen over
  faiss-cpu because it is one small wheel with no BLAS or OpenMP runtime to ship, builds an
  HNSW graph without a training step (faiss's IVF indexes need one, and a representative
  sample), and searches cosine directly. The index is built from the relation's rows the first
  time and kept on the connection, keyed by the relation's SQL, the column and a digest of
  its rows (count and row hashes, one DuckDB scan), so it is reused until the data changes.
  The k candidates it returns are re-scored exactly, so ``score`` means the same in both.
- *auto*: exact below ``EXACT_SEARCH_ROWS`` rows, the index above (measured in
  ``benchmarks/search.py``; see benchmarks/RESULTS.md). Without usearch installed, auto stays
  exact; ``method => 'index'`` then raises, naming the extra.

Rows whose vector is NULL are never returned.

>>> import duckdb, numpy as np
>>> con = duckdb.connect()
>>> _ = con.sql("CREATE TABLE d AS SELECT 1 AS id, [1, 0]::FLOAT[2] AS v UNION ALL "
...             "SELECT 2, [0, 1]::FLOAT[2]")
>>> table, run = VectorIndexes().search(con, "SELECT * FROM d", "v", np.array([1, 0.1]), 1)
>>> table.column("id").to_pylist(), run.method
([1], 'exact')
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from heliumsql.errors import ExecutionError

EXACT_SEARCH_ROWS = 50_000
SCORE = "score"
# HNSW settings: connectivity 16 and a wide search beam (256) give recall@10 0.995-1.0 on
# 1,000-100,000 random 32-d vectors (random vectors are the hard case: no clusters to exploit); see
# benchmarks/search.py and benchmarks/RESULTS.md.
_CONNECTIVITY = 16
_EXPANSION_ADD = 128
_EXPANSION_SEARCH = 256


@dataclass(frozen=True)
class SearchRun:
    """What one search did (EXPLAIN ANALYZE): the method used, rows searched, whether the index
    was built by this query, and the seconds spent building and searching."""

    method: str
    num_rows: int
    built: bool = False
    build_s: float = 0.0
    search_s: float = 0.0

    def line(self) -> str:
        if self.method == "exact":
            return f"exact over {self.num_rows} rows ({self.search_s:.3f}s)"
        made = f"built in {self.build_s:.3f}s" if self.built else "reused"
        return f"index over {self.num_rows} rows ({made}), searched in {self.search_s:.3f}s"


@dataclass
class _Entry:
    rows: pa.Table  # the relation's rows with a vector, in index-key order
    vectors: np.ndarray
    index: Any


def _require_usearch() -> Any:
    try:
        from usearch.index import Index
    except ImportError as exc:
        raise ExecutionError("llm_search(method => 'index') needs the usearch library: pip install "
                             "'heliumsql[embed]' (or use method => 'exact')") from exc
    return Index


def _has_usearch() -> bool:
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class VectorIndexes:
    """A connection's vector indexes, most recently used first (``capacity`` kept)."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()

    def search(self, con: duckdb.DuckDBPyConnection, input_sql: str, column: str,
               query: np.ndarray, k: int, method: str = "auto") -> tuple[pa.Table, SearchRun]:
        """The top ``k`` rows of ``input_sql`` by cosine similarity of ``column`` to ``query``,
        best first, with a FLOAT ``score`` column; and what the search did."""
        col = _quoted(column)
        ((count,),) = con.sql(f"SELECT count({col}) FROM ({input_sql}) AS r").fetchall()
        if method == "auto":
            method = "index" if count >= EXACT_SEARCH_ROWS and _has_usearch() else "exact"
        if method == "exact":
            return self._exact(con, input_sql, col, query, k, count)
        # Only a kept index needs to know the rows did not change: hashing every row (vectors
        # included) would cost an exact search as much again.
        ((digest,),) = con.sql(f"SELECT sum(hash(r)) FROM ({input_sql}) AS r").fetchall()
        return self._indexed(con, input_sql, column, query, k, (input_sql, column, count, digest))

    def _exact(self, con: duckdb.DuckDBPyConnection, input_sql: str, col: str, query: np.ndarray,
               k: int, count: int) -> tuple[pa.Table, SearchRun]:
        start = time.perf_counter()
        d = len(query)
        table = con.sql(
            f"SELECT *, array_cosine_similarity(CAST({col} AS FLOAT[{d}]), $1::FLOAT[{d}]) AS {SCORE} "
            f"FROM ({input_sql}) WHERE {col} IS NOT NULL ORDER BY {SCORE} DESC NULLS LAST LIMIT {k}",
            params=[query.astype(np.float32).tolist()]).to_arrow_table()
        return table, SearchRun("exact", count, search_s=time.perf_counter() - start)

    def _indexed(self, con: duckdb.DuckDBPyConnection, input_sql: str, column: str,
                 query: np.ndarray, k: int, key: tuple) -> tuple[pa.Table, SearchRun]:
        Index = _require_usearch()
        entry = self._entries.get(key)
        built, build_s = entry is None, 0.0
        if entry is None:
            start = time.perf_counter()
            entry = self._build(Index, con, input_sql, column, len(query))
            build_s = time.perf_counter() - start
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        start = time.perf_counter()
        found = np.empty(0, dtype=np.int64)
        if len(entry.vectors):
            entry.index.expansion_search = max(_EXPANSION_SEARCH, k)
            matches = entry.index.search(query.astype(np.float32), min(k, len(entry.vectors)))
            found = np.asarray(matches.keys, dtype=np.int64)
        scores = _cosine(entry.vectors[found], query)
        order = np.argsort(-scores, kind="stable")
        table = entry.rows.take(pa.array(found[order])).append_column(
            SCORE, pa.array(scores[order], pa.float32()))
        run = SearchRun("index", len(entry.vectors), built, build_s, time.perf_counter() - start)
        return table, run

    @staticmethod
    def _build(Index: Any, con: duckdb.DuckDBPyConnection, input_sql: str, column: str,
               d: int) -> _Entry:
        rows = con.sql(f"SELECT * FROM ({input_sql}) WHERE {_quoted(column)} IS NOT NULL"
                       ).to_arrow_table()
        values = rows.column(column).combine_chunks()
        flat = values.flatten() if rows.num_rows else pa.array([], pa.float32())
        vectors = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, d)
        index = Index(ndim=d, metric="cos", dtype="f32", connectivity=_CONNECTIVITY,
                      expansion_add=_EXPANSION_ADD, expansion_search=_EXPANSION_SEARCH)
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), vectors)
        return _Entry(rows, vectors, index)


def _cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    q = query.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(q)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (vectors @ q / norms).astype(np.float32)
