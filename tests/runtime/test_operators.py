"""An operator also runs on its own (``execute()``), outside the workflow runtime, with the
same answers the query gives."""

from __future__ import annotations

import sqlglot

import heliumsql.grammar  # noqa: F401 - the helium dialect
from heliumsql.executor import Executor
from heliumsql.operators import OPERATORS, OperatorContext


def run_alone(con, engine, query: str):  # noqa: ANN001, ANN201
    plan = Executor(con.duckdb, lambda: engine).plan(sqlglot.parse_one(query, read="helium"))
    (node,) = plan.nodes
    op = OPERATORS[node.node.call.kind](node.node, OperatorContext(con.duckdb, engine), node.input_sql)
    return list(op.execute())


def test_a_scalar_operator_yields_prompt_answer_batches(shared_engine, connect):
    con = connect(shared_engine)
    query = "SELECT name, llm('Say {name}', max_tokens => 3) AS a FROM items"
    expected = {f"Say {name}": a for name, a in con.sql(query).fetchall()}
    batches = run_alone(con, shared_engine, query)
    got = {p: a for b in batches for p, a in zip(b.column(0).to_pylist(), b.column(1).to_pylist())}
    assert got == expected and len(got) == 8  # one row per distinct prompt


def test_a_table_operator_yields_its_rows_with_answers(shared_engine, connect):
    con = connect(shared_engine)
    query = "SELECT * FROM llm_map(TABLE items, 'Say {name}', as => 'a', max_tokens => 3)"
    expected = sorted(con.sql(query).fetchall())
    rows = [tuple(r.values()) for b in run_alone(con, shared_engine, query) for r in b.to_pylist()]
    assert sorted(rows) == expected and len(rows) == 10
