"""Statements without LLM calls are DuckDB's: run as written, results exactly as DuckDB gives them.

Each test names the defect it reproduced: before the pass-through, every one of them differed
from plain DuckDB (dropped statements, Arrow round trips, sqlglot exceptions escaping, ...).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import heliumsql
from heliumsql import ParseError
from heliumsql.errors import HeliumError
from heliumsql.result import Result


@pytest.fixture
def pure():
    con = heliumsql.connect(result_cache=None)
    yield con
    assert not con.engine_loaded, "plain SQL loaded the model"
    con.close()


def _typed(rows):
    """Rows with the Python type of every value, so 1 and 1.0 or a str and bytes differ (and
    by repr, so NaN equals NaN)."""
    return [tuple((type(v).__name__, repr(v)) for v in row) for row in rows]


def _outcomes(pure, text, setup=""):
    """(ours, DuckDB's): each the column names and the typed rows of ``text`` after ``setup``;
    and our Result itself."""
    ours, theirs = pure, duckdb.connect()
    if setup:
        ours.sql(setup)
        theirs.sql(setup)
    expected = theirs.sql(text)
    got = ours.sql(text)
    return ((got.columns, _typed(got.fetchall())),
            (expected.columns, _typed(expected.fetchall())), got)


def test_every_statement_runs_in_order(pure):
    # Was: statements before the last were dropped unless they were DDL/DML.
    with pytest.raises(duckdb.InvalidInputException, match="boom"):
        pure.sql("SELECT error('boom'); SELECT 2")
    ours, duck, _ = _outcomes(pure, "SELECT setseed(0.5); SELECT random()")
    assert ours == duck


def test_trailing_comment_is_not_a_statement(pure):
    # Was: "-- c" became its own, empty statement and the result had no rows.
    assert pure.sql("SELECT 1 AS x; -- c").fetchall() == [(1,)]
    assert pure.sql("-- nothing here") is None


@pytest.mark.parametrize("text", [
    "INSERT INTO t VALUES (3, 'c') RETURNING *",
    "INSERT INTO t VALUES (3, 'c'), (4, 'd')",
    "UPDATE t SET s = s || '!' WHERE i = 1 RETURNING i, s",
    "DELETE FROM t WHERE i = 2 RETURNING s",
    "MERGE INTO t USING (SELECT 1 AS i) u ON t.i = u.i WHEN MATCHED THEN UPDATE SET s = 'm' RETURNING *",
    "CREATE TABLE t2 AS SELECT * FROM t",
    "TRUNCATE t",
    "COPY t TO '{dir}'",
])
def test_dml_returning_rows_and_counts_are_duckdbs(pure, text, tmp_path):
    # Was: RETURNING rows and the counts of INSERT, CTAS, COPY and TRUNCATE were dropped.
    ours, duck, res = _outcomes(pure, text.format(dir=tmp_path / "t.csv"),
                                setup="CREATE TABLE t(i INT, s VARCHAR); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    assert ours == duck
    assert isinstance(res, Result) and isinstance(res.relation, duckdb.DuckDBPyRelation)


def test_explain_without_llm_calls_is_duckdbs(pure):
    # Was: any EXPLAIN was HeliumSQL's plan, and invalid EXPLAIN options were accepted.
    ours = pure.sql("EXPLAIN SELECT 1").fetchall()
    assert ours == duckdb.connect().sql("EXPLAIN SELECT 1").fetchall()
    with pytest.raises(duckdb.InvalidInputException, match="bogus"):
        pure.sql("EXPLAIN (FORMAT bogus) SELECT 42")


@pytest.mark.parametrize("text", [
    "SELECT " + "(" * 60 + "1" + ")" * 60,
    "SELECT " + "abs(" * 200 + "-1" + ")" * 200,
    "SHOW ALL",
    "SELECT 'llm(' AS s, 1 AS llm -- llm(",
])
def test_statements_sqlglot_cannot_read_are_duckdbs(pure, text):
    # Was: RecursionError (41 nested parentheses), IndexError (SHOW ALL) escaped.
    ours, duck, _ = _outcomes(pure, text)
    assert ours == duck


def test_llm_statements_sqlglot_cannot_read_are_parse_errors(pure):
    # Was: a raw RecursionError or sqlglot.errors.ParseError.
    deep = "SELECT " + "llm(" * 60 + "'x'" + ")" * 60
    with pytest.raises(ParseError) as caught:
        pure.sql("SELECT 1;\n" + deep)
    assert caught.value.line == 2 and caught.value.column == len("SELECT ") + 4 * 25
    with pytest.raises(HeliumError):
        pure.sql("SELECT llm_agg('x', foo := 1)")


@pytest.mark.parametrize("expression", [
    "340282366920938463463374607431768211455::UHUGEINT",
    "(-170141183460469231731687303715884105728)::HUGEINT",
    "'12:00:00+05:30'::TIMETZ",
    "'010110'::BIT",
    "'123456789012345678901234567890123456789012345'::VARINT",
    "(1, 'a')",
    "{'a': [1, NULL], 'b': MAP {'k': 2}}",
    "INTERVAL 1 YEAR + INTERVAL 3 DAYS + INTERVAL 5 MICROSECONDS",
    "[1.5::DECIMAL(4,1), NULL]",
    "'ab'::BLOB",
])
def test_values_come_back_exactly_as_duckdb_gives_them(pure, expression):
    # Was: an Arrow round trip (UHUGEINT max -> Decimal('-1'), TIMETZ lost its offset, BIT and
    # VARINT became bytes, unnamed STRUCTs got element1 names).
    ours, duck, _ = _outcomes(pure, f"SELECT {expression} AS v")
    assert ours == duck


def test_all_types_fetch_like_duckdb(pure):
    # Was: OverflowError on fetch.
    ours, duck, _ = _outcomes(pure, "SELECT * FROM test_all_types()")
    assert ours == duck


def test_params_execute_and_relations(pure):
    # Was: con.sql(q, params=...) and con.execute did not exist.
    assert pure.sql("SELECT ?::INT + 1 AS v", params=[41]).fetchall() == [(42,)]
    assert pure.sql("SELECT $n::VARCHAR AS v", params={"n": "x"}).fetchall() == [("x",)]
    assert pure.execute("SELECT ?::INT AS v UNION ALL SELECT 7", [6]) is pure
    assert pure.fetchone() == (6,) and pure.fetchall() == [(7,)] and pure.fetchone() is None
    assert pure.execute("SELECT 1 AS a").description[0][0] == "a"
    with pytest.raises(duckdb.InvalidInputException, match="now"):
        pure.execute("SELECT error('now')")  # runs at execute, as DuckDB's does
    res = pure.sql("SELECT range AS i FROM range(10)")
    assert res.filter("i % 2 = 0").aggregate("sum(i) AS s").fetchall() == [(20,)]
    assert res.fetchone() == (0,) and res.fetchmany(2) == [(1,), (2,)]
    assert res.df()["i"].tolist() == list(range(10)) and len(res) == 10


def test_replacement_scans_see_the_callers_variables(pure):
    # Was: DuckDB looked for my_df in heliumsql's own frame.
    my_df = pd.DataFrame({"a": [1, 2, 3]})
    assert pure.sql("SELECT sum(a) FROM my_df").fetchall() == [(6,)]
    assert pure.execute("SELECT count(*) FROM my_df").fetchone() == (3,)


def test_user_macro_named_llm_is_duckdbs(pure):
    # Was: a user macro named llm was taken for the LLM function (and loaded the model).
    pure.sql("CREATE MACRO llm(x) AS x || '!'")
    assert pure.sql("SELECT llm('a') AS v").fetchall() == [("a!",)]
    pure.sql("CREATE MACRO llm_filter(x) AS x > 1; SELECT 1")
    assert pure.sql("SELECT llm_filter(2) AS v").fetchall() == [(True,)]


def test_llm_result_is_a_relation_with_its_figures(con):
    res = con.sql("SELECT id, llm('{review}', max_tokens => 2) AS a FROM reviews ORDER BY id")
    assert res.analyze is not None and len(res.analyze.operators) == 1
    joined = res.join(con.sql("SELECT id, stars FROM reviews"), "id").order("id")
    assert [r[0] for r in joined.fetchall()] == [1, 2, 3, 4, 5]
    assert con.sql("SELECT 1; SELECT llm('hi', max_tokens => 2) AS a; -- done").columns == ["a"]


def test_llm_query_reads_the_callers_dataframe(con):
    notes = pd.DataFrame({"id": [1, 2], "note": ["first", "second"]})
    res = con.sql("SELECT id, llm('{note}', max_tokens => 2) AS a FROM notes ORDER BY id")
    assert [r[0] for r in res.fetchall()] == [1, 2]
    # Registered for the query only: nothing named notes is left in the catalog.
    assert con.sql("SELECT count(*) FROM duckdb_views() WHERE view_name = 'notes'").fetchall() == [(0,)]


def test_explain_of_llm_statements_is_heliumsqls_and_explain_api_works(con):
    text = con.sql("-- plan\nEXPLAIN SELECT llm('{review}', max_tokens => 2) FROM reviews").fetchall()[0][0]
    assert text == con.explain("SELECT llm('{review}', max_tokens => 2) FROM reviews")
    assert "Total  rows=5" in con.explain("SELECT * FROM reviews", analyze=True)
    assert con.sql("EXPLAIN SELECT * FROM reviews").columns == \
        duckdb.connect().sql("EXPLAIN SELECT 1").columns


def test_statements_before_the_last_run_even_when_a_macro_shadows_llm(pure):
    pure.sql("CREATE MACRO llm(x) AS x || '!'; CREATE TABLE t(v VARCHAR)")
    res = pure.sql("INSERT INTO t SELECT llm('a'); SELECT setseed(0.5) AS s, llm('b') AS v; "
                   "SELECT random() AS r, (SELECT v FROM t) AS v")
    assert res.fetchall() == duckdb.connect().sql("SELECT setseed(0.5); SELECT random() AS r, 'a!' AS v").fetchall()


def test_params_bind_in_llm_statements(con):
    plain = con.sql("SELECT llm('Hi there', max_tokens => 2) AS a").fetchall()
    assert con.sql("SELECT llm(?, max_tokens => 2) AS a", params=["Hi there"]).fetchall() == plain
    assert con.sql("SELECT llm($1, max_tokens => $2) AS a", params=["Hi there", 2]).fetchall() == plain
    assert con.sql("SELECT llm($p, max_tokens => 2) AS a", params={"p": "Hi there"}).fetchall() == plain
    with pytest.raises(duckdb.InvalidInputException, match="more parameters"):
        con.sql("SELECT llm(?, max_tokens => ?) AS a", params=["Hi there"])


def test_dropping_the_macro_gives_llm_back(con):
    con.sql("CREATE TEMP MACRO llm(x, max_tokens := 1) AS 'macro'")
    assert con.sql("SELECT llm('hi', max_tokens => 2) AS a").fetchall() == [("macro",)]
    con.sql("DROP MACRO llm")
    res = con.sql("SELECT llm('hi', max_tokens => 2) AS a")
    assert res.analyze is not None and res.fetchall() != [("macro",)]
