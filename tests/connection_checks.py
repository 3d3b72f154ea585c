"""What "the connection survives" means in the tests of hostile input (tests/sql)."""

from __future__ import annotations

import heliumsql


def still_works(con: heliumsql.Connection, context: str = "") -> None:
    """The same connection answers a plain query and holds no per-query LLM function."""
    assert con.sql("select 42").fetchall() == [(42,)], context
    assert con.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE '__helium%'"
                   ).fetchall() == [(0,)], context
