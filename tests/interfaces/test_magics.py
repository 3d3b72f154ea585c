"""Jupyter magics, run in a real IPython shell: %load_ext heliumsql, %hsql, %%hsql."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import heliumsql
from heliumsql.errors import ParseError
from heliumsql.magics import Plan

QUERY = ("SELECT id, llm('Is this review positive or negative? Review: {review}', "
         "max_tokens => 4) AS label FROM reviews_df ORDER BY id")


@pytest.fixture()
def shell(engine):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "heliumsql")
    con = heliumsql.connect(engine=engine)
    shell.user_ns.update(
        con=con, reviews_df=pd.DataFrame({"id": [1, 2, 3], "review": ["great", "late", "great"]}))
    yield shell
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, source: str):
    result = shell.run_cell(source)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


def test_cell_magic_matches_connect_and_assigns_output(shell):
    df = run(shell, f"%%hsql --connection con -o labels\n{QUERY}")
    con = shell.user_ns["con"]
    con.duckdb.register("reviews_df", shell.user_ns["reviews_df"])
    expected = con.sql(QUERY).df()
    pd.testing.assert_frame_equal(df, expected)
    pd.testing.assert_frame_equal(shell.user_ns["labels"], expected)
    # The DataFrame was visible by name for the query only, not left behind in the catalog.
    con.duckdb.unregister("reviews_df")
    tables = con.duckdb.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("reviews_df",) not in tables


def test_line_magic_reuses_the_connection_and_interpolates_outside_quotes(shell):
    run(shell, "%hsql --connection con CREATE TABLE nums AS SELECT range AS n FROM range(10)")
    shell.user_ns["limit"] = 3
    df = run(shell, "%hsql SELECT n, 'literal {limit}' AS s FROM nums ORDER BY n LIMIT {limit}")
    assert df["n"].tolist() == [0, 1, 2]
    assert df["s"].tolist() == ["literal {limit}"] * 3  # braces inside quotes are templates


def test_explain_renders_the_plan(shell):
    plan = run(shell, f"%%hsql --connection con --explain\n{QUERY}")
    assert isinstance(plan, Plan)
    con = shell.user_ns["con"]
    con.duckdb.register("reviews_df", shell.user_ns["reviews_df"])
    assert str(plan) == con.explain(QUERY)
    assert plan._repr_html_().startswith("<pre>")


def test_errors_are_raised_with_their_message_and_the_shell_goes_on(shell):
    with pytest.raises(ParseError):
        run(shell, "%hsql --connection con SELECT llm('x' max_tokens => 2)")
    assert run(shell, "%hsql SELECT 1 AS one")["one"].tolist() == [1]
    with pytest.raises(NameError, match="nowhere"):
        run(shell, "%hsql --connection nowhere SELECT 1")
