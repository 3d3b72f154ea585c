"""Which kinds of statement may hold LLM calls, and how each kind runs.

The executor runs a query (its rows come back) or a statement without a result (CREATE TABLE AS,
INSERT, UPDATE, DELETE). Every other kind of statement with an LLM call is either brought to one
of those here or refused with a :class:`PlanError` saying what to write instead, before anything
runs: a statement that DuckDB answers with rows but that the executor ran as a statement without
a result would leave DuckDB's result unread, and DuckDB then refuses every later statement on the
connection (``ResourceInUseException``).

- ``VALUES (...)`` and a top-level ``PIVOT`` / ``UNPIVOT`` run as ``SELECT * FROM (...)``.
- ``DESCRIBE <query>`` plans the query and describes its output columns; no LLM call runs.
- ``SUMMARIZE <query>`` runs the query, then summarizes its rows.
- ``CREATE VIEW`` / ``MACRO`` / ``FUNCTION`` with an LLM call, LLM calls in column defaults, and
  ``RETURNING`` in a statement with LLM calls are refused.

>>> run(statement, executor, progress)                                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from heliumsql.binder import Catalog
from heliumsql.errors import BindError, PlanError
from heliumsql.grammar.dialect import display_sql
from heliumsql.grammar.expressions import LlmFunc, LlmMap
from heliumsql.grammar.functions import FUNCTIONS, REORDER
from heliumsql.planner import build_plan
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result
from heliumsql.runtime import QueryRuntime

if TYPE_CHECKING:
    from heliumsql.executor import Executor

_SUMMARIZED = "__helium_summarize_input"
_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete)


def run(statement: exp.Expr, executor: "Executor", progress: ProgressCallback | None = None,
        reorder_fields: bool = False) -> Result:
    """Run ``statement`` (which holds at least one LLM call) as its kind requires;
    ``reorder_fields`` (``SET helium_reorder_fields``) is the default of ``reorder =>``."""
    check_nested_table_calls(statement)
    if reorder_fields:
        statement = with_reorder(statement)
    if isinstance(statement, exp.Describe) and isinstance(statement.this, exp.Query):
        return _describe(statement.this, executor)
    if isinstance(statement, exp.Summarize) and isinstance(statement.this, exp.Query):
        return _summarize(statement.this, executor, progress)
    statement = as_query(statement)
    _check(statement)
    result, _, _ = executor.run(statement, progress)
    return result


def as_query(statement: exp.Expr) -> exp.Expr:
    """A statement that yields rows but is not a query (VALUES, PIVOT, UNPIVOT), as the query
    ``SELECT * FROM (...)``: same rows, same column names."""
    if isinstance(statement, (exp.Values, exp.Pivot)) and statement.parent is None:
        return exp.select("*").from_(exp.Subquery(this=statement.copy()))
    return statement


def with_reorder(statement: exp.Expr) -> exp.Expr:
    """A copy of ``statement`` where every call that takes ``reorder =>`` and does not give it
    says ``reorder => true``."""
    tree = statement.copy()
    for call in tree.find_all(LlmFunc):
        named = {k.this.name.lower() for k in call.expressions if isinstance(k, exp.Kwarg)}
        if FUNCTIONS[call.function_name].arg(REORDER) is not None and REORDER not in named:
            call.append("expressions", exp.Kwarg(this=exp.var(REORDER), expression=exp.true()))
    return tree


def check_nested_table_calls(statement: exp.Expr) -> None:
    """An LLM call in ``llm_map``'s prompt or context has no rows to run on (the table function's
    input is a whole relation), so it is refused; inside the input subquery it is fine."""
    for call in statement.find_all(LlmMap):
        for argument in call.expressions:
            if isinstance(argument, exp.Subquery):
                continue
            inner = argument.find(LlmFunc)
            if inner is not None:
                raise BindError(f"llm_map(): {display_sql(inner)} in its arguments has no rows to "
                                "run on; compute it in the input instead: llm_map((SELECT *, "
                                "llm(...) AS x FROM t), '... {x} ...')")


def _check(statement: exp.Expr) -> None:
    kind = type(statement).__name__.upper()
    if isinstance(statement, exp.Create):
        _check_create(statement)
        return
    if not isinstance(statement, _STATEMENTS):
        raise PlanError(f"LLM calls are not supported in a {kind} statement; compute them in a "
                        "SELECT (or CREATE TABLE ... AS SELECT) and use its result")
    if statement.args.get("returning") is not None:
        raise PlanError(f"{kind} ... RETURNING is not supported with LLM calls; run the {kind} "
                        "and then SELECT the rows it changed")


def _check_create(statement: exp.Create) -> None:
    kind = str(statement.args.get("kind") or "").upper()
    body = statement.expression
    if kind == "VIEW":
        name = statement.this.sql("duckdb")
        raise PlanError(f"CREATE VIEW {name}: a view with LLM calls would run them again on every "
                        f"read and cannot keep its per-query functions; store the answers with "
                        f"CREATE TABLE {name} AS SELECT ... (or keep the SELECT and run it when "
                        "needed)")
    outside = [c for c in statement.find_all(LlmFunc)
               if not isinstance(body, exp.Query) or not _inside(c, body)]
    if kind != "TABLE" or outside:
        raise PlanError(f"LLM calls are not supported in CREATE {kind or 'statements'} except "
                        "CREATE TABLE ... AS SELECT; compute the answers in a query")


def _inside(node: exp.Expr, ancestor: exp.Expr) -> bool:
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def _describe(query: exp.Query, executor: "Executor") -> Result:
    """DuckDB's DESCRIBE of the query with its LLM calls planned, not run: DuckDB binds the
    statement (types come from the declared functions and tables) without executing it."""
    runtime = QueryRuntime(executor.con)
    try:
        plan = build_plan(query, Catalog(executor.con), runtime)
        return Result.from_arrow(executor.con.sql(f"DESCRIBE {plan.statement.sql('duckdb')}")
                                 .to_arrow_table())
    finally:
        runtime.close()


def _summarize(query: exp.Query, executor: "Executor", progress: ProgressCallback | None) -> Result:
    result, _, _ = executor.run(query, progress)
    rows: pa.Table = result.arrow()
    executor.con.register(_SUMMARIZED, rows)
    try:
        return Result.from_arrow(executor.con.sql(f"SUMMARIZE SELECT * FROM {_SUMMARIZED}")
                                 .to_arrow_table())
    finally:
        executor.con.unregister(_SUMMARIZED)
