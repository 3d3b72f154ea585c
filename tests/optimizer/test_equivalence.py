"""Every query of the test suite gives the same rows with the optimizer on and off.

The queries: tests/optimizer/queries.py (those of tests/sql and ones aimed at each rule) and
every statement of the golden files (tests/fixtures/plans, tests/fixtures/optimizer), run on
a tiny model with ``max_tokens => 4`` added where a call has none (length is what costs).

Record-style calls (``llm('q', col_a, col_b)``) are the one documented exception: their fields
are a set, so the optimizer may render them in another order, which changes the prompt. For
those the optimizer-off run uses the query with the fields written in the order the optimizer
chose (read from EXPLAIN): the reordered prompt, computed both ways.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from heliumsql.grammar.dialect import display_sql
from heliumsql.grammar.expressions import LlmFunc
from heliumsql.grammar.functions import context_name
from review_tables import REVIEWS
from optimizer_queries import QUERIES, SQL_TESTS, golden_statements, with_short_answers
from sqlglot import exp

import heliumsql

_FIELDS = re.compile(r"^\s+fields  (.+)  \(declared (.+)\)$")
_NODE = re.compile(r"^  Llm\w* #\d+  (.*)$")


def chosen_field_orders(explain: str) -> dict[str, list[str]]:
    """Call text -> the field order the optimizer chose, for calls whose order it changed."""
    orders, current = {}, None
    for line in explain.splitlines():
        if (node := _NODE.match(line)) is not None:
            current = node[1]
        elif (fields := _FIELDS.match(line)) is not None and current is not None:
            orders[current] = fields[1].split(", ")
    return orders


def with_field_order(sql: str, orders: dict[str, list[str]]) -> str:
    """``sql`` with each listed call's context fields written in the given order."""
    if not orders:
        return sql
    tree = sqlglot.parse_one(sql, read="helium")
    for call in tree.find_all(LlmFunc):
        order = orders.get(display_sql(call))
        if order is None:
            continue
        args = list(call.expressions)
        first = 2 if call.function_name == "llm_map" else 1
        fields = [a for a in args[first:] if not isinstance(a, exp.Kwarg)]
        by_name = {context_name(a): a for a in fields}
        rest = [a for a in args[first:] if isinstance(a, exp.Kwarg)]
        call.set("expressions", args[:first] + [by_name[name] for name in order] + rest)
    return tree.sql("helium")


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
    reference_sql = with_field_order(sql, chosen_field_orders(on.explain(sql)))
    got = rows_of(on, sql)
    unlimited = limit_without_order(reference_sql)
    if unlimited is None:
        assert sorted(got, key=repr) == sorted(rows_of(off, reference_sql), key=repr)
    else:
        # LIMIT without ORDER BY may keep any rows: as many, all of them valid.
        assert len(got) == len(rows_of(off, reference_sql))
        assert set(got) <= set(rows_of(off, unlimited))
