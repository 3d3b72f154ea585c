"""The REPL's building blocks: statement splitting, result rendering, completion."""

from __future__ import annotations

import io

import duckdb
import pyarrow as pa
from prompt_toolkit.document import Document
from rich.console import Console

from heliumsql.repl.completer import Catalog, SqlCompleter
from heliumsql.repl.render import print_result
from heliumsql.repl.statements import Item, is_complete, read_items, split_sql


def test_semicolons_in_strings_comments_and_identifiers_do_not_end_statements():
    text = "SELECT 'a;b' AS \"x;y\"; -- c;\nSELECT $$p;q$$; SELECT 3"
    statements, rest = split_sql(text)
    assert statements == ["SELECT 'a;b' AS \"x;y\";", "-- c;\nSELECT $$p;q$$;"]
    assert rest.strip() == "SELECT 3"
    assert not is_complete("SELECT llm('unterminated;")
    assert is_complete("SELECT llm('done;');")
    assert is_complete(".tables") and not is_complete("SELECT\n1")


def test_scripts_mix_dot_commands_and_multiline_statements():
    items, rest = read_items(".mode csv\nSELECT\n  1; .timer off\nSELECT 2", final=True)
    assert items == [Item("dot", ".mode csv"), Item("sql", "SELECT\n  1;"),
                     Item("dot", ".timer off"), Item("sql", "SELECT 2")]
    assert rest == ""
    # A line starting with '.' inside an open statement is SQL, not a command.
    items, _ = read_items("SELECT 1\n.5 AS x;")
    assert items == [Item("sql", "SELECT 1\n.5 AS x;")]


def _render(table: pa.Table, mode: str, width: int = 60) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_result(table, console, mode, max_rows=6)
    return console.file.getvalue()


def test_table_mode_truncates_wide_text_and_long_results_with_counts():
    table = pa.table({"id": list(range(100)), "text": ["word " * 50 + "\nmore"] * 100})
    out = _render(table, "table")
    lines = out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert "100 rows (6 shown), 2 columns" in out
    assert "│    99 │" in out and "│     3 │" not in out  # head and tail, middle elided
    assert "…" in out


def test_export_modes_write_every_row():
    table = pa.table({"a": [1, None], "b": ["x|y", "line\nbreak"]})
    assert _render(table, "csv") == '"a","b"\n1,"x|y"\n,"line\nbreak"\n'
    assert _render(table, "json") == ('[\n{"a": 1, "b": "x|y"},\n{"a": null, "b": "line\\nbreak"}\n]\n')
    assert _render(table, "markdown") == ("| a | b |\n|---|---|\n| 1 | x\\|y |\n"
                                          "| NULL | line<br>break |\n")


def _complete(catalog: Catalog, text: str) -> list[str]:
    return [c.text for c in SqlCompleter(lambda: catalog).get_completions(Document(text), None)]


def test_completion_from_duckdb_catalog_and_llm_function_arguments():
    con = duckdb.connect()
    con.execute("CREATE TABLE reviews(id INT, review VARCHAR, stars INT)")
    catalog = Catalog.load(con, ["tables", "quit"])
    assert catalog.tables == {"reviews": ("id", "review", "stars")}
    assert "SELECT" in _complete(catalog, "SEL")
    assert _complete(catalog, "SELECT * FROM rev")[0] == "reviews"
    assert _complete(catalog, "SELECT * FROM reviews WHERE sta")[0] == "stars"
    assert _complete(catalog, "SELECT reviews.r") == ["review"]
    assert _complete(catalog, "SELECT llm('Is {rev") == ["review}"]
    assert _complete(catalog, ".ta") == [".tables"]
    assert "llm_filter" in _complete(catalog, "SELECT llm_f")
    assert _complete(catalog, "SELECT llm('x', max_t")[0] == "max_tokens => "
    assert "temperature => " not in _complete(catalog, "SELECT llm_filter('x', t")


def test_trailing_comment_is_part_of_the_statement_not_a_new_one():
    assert split_sql("SELECT 1 AS x; -- c") == (["SELECT 1 AS x; -- c"], "")
    assert is_complete("SELECT 1; /* done */") and not is_complete("SELECT 2 -- c;")
    items, rest = read_items("SELECT 1;;\n-- only a comment\n", final=True)
    assert items == [Item("sql", "SELECT 1;;")] and rest == ""  # the comment runs nothing


def test_completion_knows_the_typed_llm_functions_and_returns():
    catalog = Catalog.load(duckdb.connect())
    assert {"llm_classify", "llm_score"} <= set(_complete(catalog, "SELECT llm_"))
    assert _complete(catalog, "SELECT llm('x', ret")[0] == "returns => "
    assert _complete(catalog, "SELECT * FROM llm_map(TABLE t, 'x', ret")[0] == "returns => "
    assert _complete(catalog, "SELECT llm_classify('x', ['a', 'b'], mul")[0] == "multi => "
    assert "returns => " not in _complete(catalog, "SELECT llm_filter('x', r")
