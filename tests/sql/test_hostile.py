"""Hostile but fair input (issue 17): every statement gives rows or a clear HeliumError, and the
same connection keeps working afterwards (``select 42`` is asked after every case)."""

from __future__ import annotations

import pytest
from connection_checks import still_works

import heliumsql
from heliumsql import BindError, ExecutionError, ParseError, PlanError

MT = 2


@pytest.fixture
def no_model(tmp_path):  # noqa: ANN001, ANN201
    """A connection whose model cannot load: whatever passes here ran no LLM call."""
    from review_tables import REVIEWS

    con = heliumsql.connect(model=str(tmp_path / "no_such_model"), result_cache=None)
    con.sql(REVIEWS)
    yield con
    con.close()


def test_deeply_nested_calls_are_a_parse_error_not_a_recursion_error(con):
    sql = "SELECT " + "llm(" * 41 + "'x'" + ", max_tokens => 2)" * 41
    with pytest.raises(ParseError, match="nests too deeply") as raised:
        con.sql(sql)
    # The caret is under the parenthesis one level too deep: the 25th "llm(".
    assert raised.value.line == 1 and raised.value.column == len("SELECT ") + 4 * 25
    still_works(con)


def test_nesting_within_the_bound_plans_and_parentheses_in_strings_do_not_count(con):
    plain = con.sql(f"SELECT llm('x', max_tokens => {MT}) AS a").fetchall()
    deep = "(" * 20 + f"llm('x', max_tokens => {MT})" + ")" * 20
    assert con.sql(f"SELECT {deep} AS a").fetchall() == plain
    quoted = con.sql(f"SELECT '{'(' * 40}' AS s, llm('x', max_tokens => {MT}) AS a").fetchall()
    assert quoted == [("(" * 40, plain[0][0])]


def test_values_with_a_call_gives_its_row(con):
    expected = con.sql(f"SELECT llm('x', max_tokens => {MT}) AS col0").fetchall()
    assert con.sql(f"VALUES (llm('x', max_tokens => {MT}))").fetchall() == expected
    result = con.sql(f"VALUES (llm('x', max_tokens => {MT}), 7)")
    assert result.columns == ["col0", "col1"] and result.fetchall() == [(expected[0][0], 7)]
    still_works(con)


def test_describe_plans_but_runs_no_call(no_model):
    rows = no_model.sql("DESCRIBE SELECT id, llm('Hi {review}') AS a, "
                        "llm_filter('ok? {review}') AS f FROM reviews").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("id", "INTEGER"), ("a", "VARCHAR"), ("f", "BOOLEAN")]
    assert not no_model.engine_loaded
    still_works(no_model)


def test_summarize_runs_the_query_then_summarizes_its_rows(con):
    sql = f"SELECT id, llm('Say {{review}}', max_tokens => {MT}) AS a FROM reviews"
    con.sql(f"CREATE TABLE answered AS {sql}")
    assert con.sql(f"SUMMARIZE {sql}").fetchall() == con.sql("SUMMARIZE answered").fetchall()
    still_works(con)


def test_copy_writes_the_rows_of_the_query(con, tmp_path):
    sql = f"SELECT id, llm('Say {{review}}', max_tokens => {MT}) AS a FROM reviews ORDER BY id"
    path = tmp_path / "answers.parquet"
    con.sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
    assert con.sql(f"SELECT * FROM '{path}' ORDER BY id").fetchall() == con.sql(sql).fetchall()
    still_works(con)


def test_unpivot_over_a_call_column(con):
    sql = f"SELECT id, llm('Say {{review}}', max_tokens => {MT}) AS a, category FROM reviews"
    wide = con.sql(sql + " ORDER BY id").fetchall()
    rows = con.sql(f"UNPIVOT ({sql}) ON a, category INTO NAME k VALUE v").fetchall()
    assert sorted(rows, key=repr) == sorted([(i, "a", a) for i, a, _ in wide] +
                                            [(i, "category", c) for i, _, c in wide], key=repr)
    still_works(con)


def test_pivot_with_llm_agg_gives_the_rows_of_its_subquery_form(con):
    pivot = f"PIVOT reviews ON category USING llm_agg('{{review}}', max_tokens => {MT}) GROUP BY stars"
    rows = con.sql(pivot).fetchall()
    assert len(rows) == 3  # stars 1, 2, 5
    assert sorted(rows, key=repr) == sorted(con.sql(f"SELECT * FROM ({pivot})").fetchall(), key=repr)
    still_works(con)


_TABLE_ONLY_FIRST = "TABLE reviews is only allowed as the first argument"


@pytest.mark.parametrize(("sql", "error", "message"), [
    ("CREATE MACRO m() AS llm('x')", PlanError, "not supported"),
    ("CREATE TABLE d (a VARCHAR DEFAULT llm('x'))", PlanError, "not supported"),
    ("INSERT INTO reviews SELECT id + 10, llm('x {review}'), stars, category FROM reviews "
     "RETURNING id", PlanError, "not supported"),
    ("SELECT * FROM llm_map(TABLE reviews, llm('x'))", BindError, "compute it in the input"),
    ("PIVOT reviews ON category USING llm_agg('{id}: {review}')", PlanError, "reads 2"),
    ("SELECT * FROM (PIVOT reviews ON category USING llm_agg('x'))", PlanError, "reads 0"),
    # found by the fuzzer: a ValueError from sqlglot while the inner call's input was built
    ("WITH c AS (SELECT id, llm(llm('x {review}'), TABLE reviews) AS a FROM reviews) "
     "SELECT * FROM c", BindError, _TABLE_ONLY_FIRST),
    ("EXPLAIN SELECT llm(llm('x {review}'), TABLE reviews) FROM reviews", BindError, _TABLE_ONLY_FIRST),
    ("SELECT * FROM llm_map(TABLE reviews, 'x', TABLE reviews)", BindError, _TABLE_ONLY_FIRST),
])
def test_statements_that_cannot_hold_a_call_are_refused_before_running(no_model, sql, error, message):
    with pytest.raises(error, match=message):
        no_model.sql(sql)
    assert not no_model.engine_loaded
    assert no_model.sql("SELECT count(*) FROM reviews").fetchall() == [(5,)]
    still_works(no_model)


def test_dml_with_calls_still_runs(con):
    con.sql("CREATE TABLE copy AS SELECT * FROM reviews")
    con.sql(f"UPDATE copy SET review = llm('Fix {{review}}', max_tokens => {MT}) WHERE id < 3")
    con.sql(f"INSERT INTO copy SELECT id + 10, llm('x', max_tokens => {MT}), 1, 'toys' FROM reviews")
    con.sql("DELETE FROM copy WHERE llm_filter('Drop {review}?')")
    assert con.sql("SELECT count(*) <= 10 FROM copy").fetchall() == [(True,)]
    still_works(con)


def test_unknown_context_column_of_llm_map_is_a_bind_error(no_model):
    # found by the fuzzer: DuckDB's binder error about the internal input query
    with pytest.raises(BindError, match="column title in llm_map.*columns in scope: id, review"):
        no_model.sql("SELECT * FROM llm_map(TABLE reviews, 'x', title)")
    still_works(no_model)


def test_unknown_column_in_update_names_the_tables_columns(con):
    con.sql("CREATE TABLE notes (a VARCHAR)")
    with pytest.raises(BindError, match=r"\{review\} in the llm\(\) template .* columns in scope: a"):
        con.sql("UPDATE notes SET a = llm('{review}', max_tokens => 2)")
    with pytest.raises(BindError, match="column nope in llm_filter"):
        con.sql("DELETE FROM notes WHERE llm_filter('x', nope)")
    still_works(con)


@pytest.mark.parametrize(("argument", "allowed"), [
    ("top_p => 0", r"top_p => 0 must be greater than 0 \(allowed: \(0, 1\]\)"),
    ("top_p => 1.5", r"top_p => 1.5 must be at most 1"),
    ("temperature => -1", r"temperature => -1 must be at least 0 \(allowed: 0 to 100\)"),
    ("temperature => 1000", "temperature => 1000 must be at most 100"),
    ("max_tokens => 0", "max_tokens => 0 must be at least 1"),
    ("max_tokens => 99999999999", r"max_tokens => 99999999999 must be at most 1048576"),
    ("seed => 1.5", "seed => 1.5 must be a literal integer"),
    ("seed => 99999999999999999999", "seed => 99999999999999999999 must be at most 9223372036854775807"),
    ("reorder => 1", "reorder => 1 must be boolean"),
])
def test_out_of_range_arguments_are_bind_errors_before_any_model_loads(no_model, argument, allowed):
    with pytest.raises(BindError, match=allowed):
        no_model.sql(f"SELECT llm('x {{review}}', {argument}) FROM reviews")
    assert not no_model.engine_loaded
    still_works(no_model)


@pytest.mark.parametrize("n", ["0", "1025", "99999999999"])
def test_llm_map_samples_are_bounded(no_model, n):
    with pytest.raises(BindError, match=rf"n => {n} must be at (least 1|most 1024) \(allowed: 1 to 1024\)"):
        no_model.sql(f"SELECT * FROM llm_map(TABLE reviews, 'x {{review}}', n => {n})")
    assert not no_model.engine_loaded
    still_works(no_model)


def test_prompt_too_long_names_the_operator_and_cuts_the_row_and_the_call(con):
    template = "Read this carefully " * 10 + "{body}"
    con.sql("CREATE TABLE long AS SELECT 1 AS id, repeat('word ', 3000) AS body")
    with pytest.raises(ExecutionError) as info:
        con.sql(f"SELECT llm('{template}', max_tokens => {MT}) FROM long")
    message = str(info.value)
    assert message.startswith("Llm #1 (llm('Read this carefully")
    assert "{body}" not in message and "…)" in message  # the call text is cut too
    assert "the row whose prompt is 'Read this carefully" in message and "…'" in message
    assert "prompt tokens but the model's context is 1024 tokens" in message
    assert len(message) < 400
    still_works(con)
