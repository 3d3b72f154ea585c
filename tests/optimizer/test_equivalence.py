"""Every query of the test suite gives the same rows with the optimizer on and off.

The queries: tests/optimizer/queries.py (those of tests/sql and ones aimed at each rule) and
every statement of the golden files (tests/fixtures/plans, tests/fixtures/optimizer), run on
a tiny model with ``max_tokens => 4`` added where a call has none (length is what costs).

Record-style calls (``llm('q', col_a, col_b)``) are no exception: their field order is part
of the prompt, and ``reorder => true`` is decided while planning, the same way on and off.
"""

from __future__ import annotations

import pytest
import sqlglot
from review_tables import REVIEWS
from optimizer_queries import QUERIES, SQL_TESTS, golden_statements, with_short_answers
from sqlglot import exp

import heliumsql

def rows_of(con: heliumsql.Connection, sql: str) -> list[tuple]:
    statement = sqlglot.parse_one(sql, read="helium")
    result = con.sql(sql)
    if isinstance(statement, exp.Create):
        table = statement.this.this
        rows = con.sql(f"SELECT * FROM {table.sql('duckdb')}").fetchall()
        con.sql(f"DROP TABLE {table.sql('duckdb')}")
        return rows
    return result.fetchall()


def limit_without_order(sql: str) -> str | None:
    """For a query whose top LIMIT has no ORDER BY (any rows may come back): the query
    without its LIMIT; else None."""
    tree = sqlglot.parse_one(sql, read="helium")
    if isinstance(tree, exp.Select) and tree.args.get("limit") and not tree.args.get("order"):
        tree.set("limit", None)
        tree.set("offset", None)
        return tree.sql("helium")
    return None


@pytest.fixture
def both(engine):  # noqa: ANN001, ANN201
    on = heliumsql.connect(engine=engine, optimize=True)
    off = heliumsql.connect(engine=engine, optimize=False)
    for con in (on, off):
        con.sql(REVIEWS)
    yield on, off
    on.close()
    off.close()


def test_the_list_covers_tests_sql_and_every_golden_file():
    assert len(SQL_TESTS) >= 20
    assert set(golden_statements()) and all(q in QUERIES or with_short_answers(q) in QUERIES
                                            for q in golden_statements())


@pytest.mark.parametrize("sql", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
def test_optimizer_on_and_off_give_the_same_rows(both, sql: str) -> None:
    on, off = both
    assert on.optimize and not off.optimize
    got = rows_of(on, sql)
    unlimited = limit_without_order(sql)
    if unlimited is None:
        assert sorted(got, key=repr) == sorted(rows_of(off, sql), key=repr)
    else:
        # LIMIT without ORDER BY may keep any rows: as many, all of them valid.
        assert len(got) == len(rows_of(off, sql))
        assert set(got) <= set(rows_of(off, unlimited))
