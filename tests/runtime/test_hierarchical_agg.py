"""Hierarchical ``llm_agg``: a group longer than the context is aggregated in a tree (chunks
that fit, then answers of answers) instead of failing; same answer every time; ``on_error``
still decides for a single value that cannot fit on its own."""

from __future__ import annotations

import re

import pytest
import sqlglot

from heliumsql.errors import ExecutionError
from heliumsql.operators.agg_tree import group_shape
from heliumsql.testing import logical_plan

# 1,000 rows of 49 characters + newline: a 50,000-token group under the byte-level tokenizer
# (and a group of 3 rows that fits).
NOTES = """CREATE TABLE notes AS
SELECT CASE WHEN i < {n} THEN 'big' ELSE 'small' END AS grp,
       'note ' || lpad(i::VARCHAR, 4, '0') || ' ' || repeat(chr((97 + i % 26)::INTEGER), 39) AS body
FROM range({n} + 3) t(i)"""
BIG = NOTES.format(n=1000)
QUERY = ("SELECT grp, llm_agg('Summarize the notes:\n{body}', max_tokens => 12) AS summary "
         "FROM notes GROUP BY grp ORDER BY grp")


@pytest.mark.slow
def test_a_50000_token_group_completes_in_a_tree_and_twice_the_same(shared_engine, connect) -> None:
    con = connect(shared_engine, setup=BIG)
    tokens = con.sql("SELECT sum(length(body) + 1) FROM notes WHERE grp = 'big'").fetchall()[0][0]
    assert tokens >= 50_000 > shared_engine.max_context
    first = con.sql(QUERY).fetchall()
    second = connect(shared_engine, setup=BIG).sql(QUERY).fetchall()
    assert first == second
    assert [g for g, _ in first] == ["big", "small"] and all(isinstance(s, str) for _, s in first)
    text = con.explain(QUERY, analyze=True)
    tree = re.search(r"tree  1 groups over the context: (\d+) levels, (\d+) calls \(level 0: (\d+)",
                     text)
    assert tree is not None, text
    levels, calls, leaves = map(int, tree.groups())
    # Each leaf prompt holds at most ~1000 of the group's 50,000 tokens.
    assert levels >= 2 and leaves >= tokens // shared_engine.max_context and calls > leaves


def test_groups_that_fit_are_answered_as_before(shared_engine, connect) -> None:
    con = connect(shared_engine, setup=NOTES.format(n=150))
    alone = con.sql(QUERY.replace("FROM notes", "FROM notes WHERE grp = 'small'")).fetchall()
    assert con.sql(QUERY).fetchall()[1] == alone[0]


def test_a_single_value_longer_than_the_context_follows_on_error(shared_engine, connect) -> None:
    con = connect(shared_engine, setup=NOTES.format(n=150))
    con.sql("INSERT INTO notes VALUES ('big', repeat('x', 5000))")
    with pytest.raises(ExecutionError, match="on_error => 'null'"):
        con.sql(QUERY)
    rows = con.sql(QUERY.replace("max_tokens => 12", "max_tokens => 12, on_error => 'null'"))
    big, small = rows.fetchall()
    assert big == ("big", None) and isinstance(small[1], str)


def test_the_shape_renders_exactly_the_prompt_duckdb_renders() -> None:
    plan, con = logical_plan(
        "SELECT g, llm_agg('Notes:\n{a} and {b}', c) FROM t GROUP BY g",
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'x', 'y', 3), (1, 'p\nq', NULL, 4), "
        "(2, 'z', 'w', NULL)) v(g, a, b, c)")
    shape = group_shape(plan.nodes[0].input)
    assert shape is not None and shape.num_values == 3
    rendered = con.sql(shape.rows_sql).fetchall()
    assert len(rendered) == 2
    for prompt, rows in rendered:
        assert shape.render([tuple(r) for r in rows]) == prompt


def test_a_prompt_that_is_not_template_shaped_has_no_shape() -> None:
    query = sqlglot.parse_one("SELECT upper(string_agg(x, ',')) AS prompt FROM t", read="duckdb")
    assert group_shape(query) is None


def test_optimizer_on_and_off_give_the_same_tree_answers(shared_engine, connect) -> None:
    setup = NOTES.format(n=150)  # 7,500 tokens: still a tree, at a fraction of the cost
    on = connect(shared_engine, setup=setup).sql(QUERY)
    off = connect(shared_engine, setup=setup, optimize=False).sql(QUERY)
    assert on.fetchall() == off.fetchall()
    assert on.analyze.operators[1].details[0][0] == "tree"
