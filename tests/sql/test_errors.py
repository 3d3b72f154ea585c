"""Every user error gets a clear HeliumError, and the same connection keeps working after it."""

from __future__ import annotations

import duckdb
import pytest

import heliumsql
from heliumsql import (BindError, CancelledError, ExecutionError, HeliumError, ModelLoadError,
                       ParseError)

OK_QUERY = "SELECT id, llm('{review}', max_tokens => 2) AS a FROM reviews WHERE id = 3"


def still_works(con) -> None:  # noqa: ANN001
    assert con.sql(OK_QUERY).fetchall()[0][0] == 3
    assert con.sql("SELECT count(*) FROM reviews").fetchall() == [(5,)]
    # The per-query UDFs of the failed query are gone.
    assert con.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE '__helium%'"
                   ).fetchall() == [(0,)]


def test_syntax_error_has_line_column_and_excerpt(con):
    with pytest.raises(ParseError) as info:
        con.sql("SELECT id,\n  llm('Hi {review}' max_tokens => 2)\nFROM reviews")
    err = info.value
    assert (err.line, err.column) == (2, 21)  # "max_tokens": a comma is missing before it
    assert "llm('Hi {review}' max_tokens => 2)" in err.excerpt and "^" in err.excerpt
    still_works(con)


def test_syntax_error_in_a_later_statement_counts_lines_from_the_start(con):
    with pytest.raises(ParseError) as info:
        con.sql("SELECT 1;\nSELECT llm('x' 'y' FROM reviews")
    assert info.value.line == 2
    still_works(con)


def test_unbalanced_template_brace(con):
    with pytest.raises(ParseError, match="not closed"):
        con.sql("SELECT llm('Hi {review') FROM reviews")
    still_works(con)


def test_unknown_placeholder_names_it_and_lists_columns(con):
    with pytest.raises(BindError) as info:
        con.sql("SELECT llm('Hi {nope}') FROM reviews")
    message = str(info.value)
    assert "{nope}" in message and "review" in message and "stars" in message
    still_works(con)


def test_unknown_context_column(con):
    with pytest.raises(BindError, match="nope.*columns in scope"):
        con.sql("SELECT llm('Hi', nope) FROM reviews")
    still_works(con)


def test_unknown_column_elsewhere_in_an_llm_query(con):
    with pytest.raises(BindError, match="nope"):
        con.sql("SELECT nope, llm('{review}') FROM reviews")
    still_works(con)


def test_non_literal_argument(con):
    with pytest.raises(BindError, match=r"llm\(\): argument max_tokens => stars must be a literal"):
        con.sql("SELECT llm('{review}', max_tokens => stars) FROM reviews")
    still_works(con)


def test_unknown_named_argument(con):
    with pytest.raises(BindError, match=r"llm\(\) has no argument named 'max_token'"):
        con.sql("SELECT llm('{review}', max_token => 3) FROM reviews")
    still_works(con)


def test_wrong_argument_type(con):
    with pytest.raises(BindError, match=r"llm\(\): argument max_tokens => 'x' must be a literal integer"):
        con.sql("SELECT llm('{review}', max_tokens => 'x') FROM reviews")
    still_works(con)


def test_llm_map_outside_from(con):
    with pytest.raises(HeliumError, match="table function"):
        con.sql("SELECT llm_map(TABLE reviews, 'x')")
    still_works(con)


def test_prompt_longer_than_context_names_row_and_lengths(con):
    con.sql("CREATE TABLE long AS SELECT 1 AS id, repeat('word ', 400) AS body UNION ALL "
            "SELECT 2, 'short'")
    with pytest.raises(ExecutionError) as info:
        con.sql("SELECT id, llm('{body}', max_tokens => 2) FROM long")
    message = str(info.value)
    assert "Llm #1" in message and "1024" in message and "'word word" in message
    assert "on_error => 'null'" in message
    still_works(con)
    rows = con.sql("SELECT id, llm('{body}', max_tokens => 2, on_error => 'null') AS a "
                   "FROM long ORDER BY id").fetchall()
    assert rows[0] == (1, None) and rows[1][1] is not None


def test_prompt_too_long_on_demand_raises_our_error(con):
    con.sql("CREATE TABLE long2 AS SELECT 'tools' AS category, repeat('word ', 400) AS body")
    with pytest.raises(ExecutionError, match="tokens but the model's context is"):
        con.sql("SELECT * FROM long2 l JOIN categories c ON l.category = c.category "
                "AND llm_filter('{l.body}')")
    still_works(con)


def test_duckdb_errors_pass_through_unchanged(con):
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM no_such_table")
    still_works(con)


def test_cancel_raises_cancelled_and_connection_survives(con):
    def interrupt(_progress) -> None:  # noqa: ANN001
        raise KeyboardInterrupt

    with pytest.raises(CancelledError):
        con.sql("SELECT llm('C {review}', max_tokens => 2) FROM reviews", progress=interrupt)
    still_works(con)


def test_missing_model_path_names_the_path(tmp_path):
    con = heliumsql.connect(model=str(tmp_path / "no-such-model"))
    assert con.sql("SELECT 42").fetchall() == [(42,)]  # pure SQL never loads the model
    with pytest.raises(ModelLoadError, match="no-such-model"):
        con.sql("SELECT llm('hi')")
    assert con.sql("SELECT 43").fetchall() == [(43,)]


def test_unreadable_model_directory_says_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    con = heliumsql.connect(model=tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="config.json"):
        con.sql("SELECT llm('hi')")
    assert con.sql("SELECT 1").fetchall() == [(1,)]


def test_no_model_says_how_to_pass_one(monkeypatch):
    import heliumsql.models as models

    monkeypatch.setattr(models, "builtin_model_path", lambda: None)
    con = heliumsql.connect()
    with pytest.raises(ModelLoadError, match=r"heliumsql.connect\(model=...\)"):
        con.sql("SELECT llm('hi')")
    assert con.sql("SELECT 1").fetchall() == [(1,)]
