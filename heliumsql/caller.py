"""The code that called HeliumSQL, whose variables DuckDB's replacement scans must see.

``SELECT * FROM my_df`` reads ``my_df`` from the first frame outside the duckdb package that
called DuckDB; called from HeliumSQL that frame would be HeliumSQL's own. So DuckDB is called
from an ``eval`` frame carrying the caller's variables (:func:`call_from`), and a statement with
LLM calls, whose DuckDB calls are spread over the planner and the runtime, gets the caller's
tables registered for its run (:func:`register_tables`).

>>> my_df = pandas.DataFrame({"a": [1]})                         # doctest: +SKIP
>>> call_from(caller_frame(), con.sql, "SELECT * FROM my_df")       # doctest: +SKIP
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import duckdb
from sqlglot import exp

_CALL = "__heliumsql_call__"
_CALL_CODE = compile(f"{_CALL}[0](*{_CALL}[1], **{_CALL}[2])", "<heliumsql>", "eval")


def caller_frame() -> FrameType | None:
    """The innermost frame outside the heliumsql package: whoever called into it."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "heliumsql":
        frame = frame.f_back
    return frame


def call_from(frame: FrameType | None, function: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, called from a frame with ``frame``'s variables: its
    globals and a copy of its locals. ``function`` must be DuckDB's own (a frame of ours in
    between would be the one DuckDB searches)."""
    if frame is None:
        return function(*args, **kwargs)
    variables = dict(frame.f_locals)
    variables[_CALL] = (function, args, kwargs)
    return eval(_CALL_CODE, frame.f_globals, variables)  # noqa: S307 - fixed code, no user text


def register_tables(con: duckdb.DuckDBPyConnection, statement: exp.Expr,
                    frame: FrameType | None) -> list[str]:
    """Register the frame's variables that ``statement`` reads as tables; returns their names
    (unregister them after the run). As in a replacement scan, a catalog table or view wins,
    and DuckDB decides what it can scan."""
    variables = {} if frame is None else {**frame.f_globals, **frame.f_locals}
    names = {t.name for t in statement.find_all(exp.Table) if t.name and not t.db} & variables.keys()
    if not names:
        return []
    existing = {name.lower() for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    registered = []
    for name in sorted(names):
        if name.lower() in existing:
            continue
        try:
            con.register(name, variables[name])
        except (duckdb.Error, TypeError, ValueError):
            continue  # not something DuckDB can scan: DuckDB reports the missing table
        registered.append(name)
    return registered
