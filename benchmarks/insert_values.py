"""The cost of HeliumSQL's statement path on plain SQL: one 50,000-row ``INSERT ... VALUES``
through ``heliumsql.connect()`` and through a plain DuckDB connection.

    python benchmarks/insert_values.py [--rows 50000] [--repeats 5]

Each run inserts the same text into a fresh table on a fresh connection; runs alternate between
the two systems so load from other processes falls on both. Prints the median of each and their
ratio (HeliumSQL / DuckDB); the target is at most 1.3.
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb

import heliumsql

TABLE = "CREATE TABLE t(id INTEGER, name VARCHAR, score DOUBLE, day DATE)"


def insert_text(rows: int) -> str:
    values = ", ".join(f"({i}, 'customer {i} said: fine', {i * 0.25}, DATE '2024-01-01' + {i % 365})"
                       for i in range(rows))
    return f"INSERT INTO t VALUES {values}"


def time_insert(connect, text: str) -> float:  # noqa: ANN001
    con = connect()
    con.sql(TABLE)
    started = time.perf_counter()
    con.sql(text)
    elapsed = time.perf_counter() - started
    assert con.sql("SELECT count(*) FROM t").fetchall()[0][0] == text.count("customer ")
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    text = insert_text(args.rows)
    systems = {"duckdb": duckdb.connect, "heliumsql": lambda: heliumsql.connect(result_cache=None)}
    for connect in systems.values():
        time_insert(connect, text)  # warm-up: imports, allocator
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.repeats):
        for name, connect in systems.items():
            times[name].append(time_insert(connect, text))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.rows:,} rows, {len(text) / 1e6:.1f} MB of SQL, median of {args.repeats} runs")
    for name, t in times.items():
        print(f"  {name:10s} {medians[name]:.3f} s   (runs: {', '.join(f'{x:.3f}' for x in t)})")
    print(f"  ratio heliumsql / duckdb = {medians['heliumsql'] / medians['duckdb']:.3f}")


if __name__ == "__main__":
    main()
