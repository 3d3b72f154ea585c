"""Which kinds of statement may hold LLM calls, and how each kind runs.

The executor runs a query (its rows come back) or a statement without a result (CREATE TABLE AS,
INSERT, UPDATE, DELETE). Every other kind of statement with an LLM call is either brought to one
of those here or refused with a :class:`PlanError` saying what to write instead, before anything
runs: a statement that DuckDB answers with rows but that the executor ran as a statement without
a result would leave DuckDB's result unread, and DuckDB then refuses every later statement on the
connection (``ResourceInUseException``).

- ``VALUES (...)`` and a top-level ``PIVOT`` / ``UNPIVOT`` run as ``SELECT * FROM (...)``.
- ``DESCRIBE <query>`` plans the query and describes its output columns; no LLM call runs.
- ``SUMMARIZE <query>`` and ``COPY (<query>) TO ...`` run the query, then DuckDB summarizes or
  writes its rows.
- ``CREATE MACRO`` / ``FUNCTION`` with an LLM call, LLM calls in column defaults, and
  ``RETURNING`` in a statement with LLM calls are refused. (A view with LLM calls never gets
  here: the connection keeps it, see :mod:`heliumsql.llm_views`.)

>>> run(statement, executor, progress)                                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from heliumsql.binder import Catalog, Scope, check_names, referenced_names
from heliumsql.errors import BindError, PlanError
from heliumsql.grammar.dialect import display_sql
from heliumsql.grammar.expressions import LlmAgg, LlmFunc, LlmMap, LlmSearch, TableArg
from heliumsql.grammar.functions import FUNCTIONS, REORDER, CallArguments, bind_arguments
from heliumsql.planner import build_plan
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result

if TYPE_CHECKING:
    from heliumsql.executor import Executor

_ROWS = "__helium_query_rows"
_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete)


def run(statement: exp.Expr, executor: "Executor", progress: ProgressCallback | None = None,
        reorder_fields: bool = False) -> Result:
    """Run ``statement`` (which holds at least one LLM call) as its kind requires;
    ``reorder_fields`` (``SET helium_reorder_fields``) is the default of ``reorder =>``."""
    statement = prepare(statement, reorder_fields)
    if isinstance(statement, exp.Describe) and isinstance(statement.this, exp.Query):
        return _describe(statement.this, executor)
    if isinstance(statement, exp.Summarize) and isinstance(statement.this, exp.Query):
        return _over_rows(statement.this, executor, progress,
                          lambda rows: f"SUMMARIZE SELECT * FROM {rows}")
    if isinstance(statement, exp.Copy) and isinstance(statement.this, exp.Subquery):
        def copy(rows: str) -> str:
            to = statement.copy()
            to.set("this", exp.Subquery(this=exp.select("*").from_(rows)))
            return to.sql("duckdb")

        _over_rows(statement.this.this, executor, progress, copy)
        return Result.empty()
    _check(statement)
    check_dml_columns(statement, executor.catalog())
    result, _, _ = executor.run(statement, progress)
    return result


def prepare(statement: exp.Expr, reorder_fields: bool = False) -> exp.Expr:
    """``statement`` with its calls checked, ``reorder => true`` added where the setting asks
    for it, and as a query if it yields rows (see :func:`as_query`); for EXPLAIN too."""
    check_calls(statement)
    if reorder_fields:
        statement = with_reorder(statement)
    return as_query(statement)


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


def check_calls(statement: exp.Expr) -> None:
    """Every call's arguments, checked before anything is planned (the planner binds calls
    innermost first, and an outer call's bad argument would otherwise surface while an inner
    call's input is built). An LLM call in ``llm_map``'s prompt or context has no rows to run
    on (the table function's input is a whole relation), so it is refused; inside the input
    subquery it is fine. ``TABLE t`` is only ``llm_map``'s (or ``llm_search``'s) first argument."""
    for table in statement.find_all(TableArg):
        call = table.parent
        if not isinstance(call, (LlmMap, LlmSearch)) or call.expressions[0] is not table:
            where = f"{call.sql_name().lower()}()" if isinstance(call, exp.Func) else "here"
            raise BindError(f"{where}: TABLE {table.this.sql('duckdb')} is only allowed as the "
                            "first argument of llm_map or llm_search")
    for call in statement.find_all(LlmFunc):
        args = bind_arguments(call)
        if isinstance(call, LlmAgg) and isinstance(call.parent, exp.Pivot):
            _check_pivot_aggregate(args)
    for call in statement.find_all(LlmMap):
        for argument in call.expressions:
            if isinstance(argument, exp.Subquery):
                continue
            inner = argument.find(LlmFunc)
            if inner is not None:
                raise BindError(f"llm_map(): {display_sql(inner)} in its arguments has no rows to "
                                "run on; compute it in the input instead: llm_map((SELECT *, "
                                "llm(...) AS x FROM t), '... {x} ...')")


def _check_pivot_aggregate(args: CallArguments) -> None:
    """DuckDB's PIVOT takes exactly one aggregate per USING expression, and an ``llm_agg``
    prompt aggregates each value it reads separately (one STRING_AGG per placeholder or
    context column), so in PIVOT it must read exactly one."""
    num_values = len(referenced_names(args)) + (0 if args.template is not None else 1)
    if num_values != 1:
        raise PlanError(f"PIVOT ... USING llm_agg() must read exactly one column (DuckDB's PIVOT "
                        f"takes one aggregate; this one reads {num_values}): write one "
                        "{placeholder}, e.g. llm_agg('Summarize: {review}'), or GROUP BY the "
                        "pivot column instead of PIVOT")


def check_dml_columns(statement: exp.Expr, catalog: Catalog) -> None:
    """The columns an UPDATE's or DELETE's calls name (outside subqueries, which the planner
    binds) must be columns of its tables: else a BindError listing them, rather than DuckDB's
    error about the internal function the call becomes."""
    if not isinstance(statement, (exp.Update, exp.Delete)):
        return
    from_ = statement.args.get("from_")
    tables = [statement.this] + ([from_.this] if from_ else []) + list(statement.args.get("using") or [])
    sources: dict[str, tuple[str, ...]] = {}
    for table in tables:
        columns = catalog.columns(exp.select("*").from_(table.copy()))
        if columns is None:
            return  # DuckDB names the missing table itself
        sources[table.alias_or_name.lower()] = columns
    scope = Scope(sources)
    for call in statement.find_all(LlmFunc):
        if call.find_ancestor(exp.Select) is not None:
            continue
        check_names(bind_arguments(call), scope)


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
    statement against the plan's typed stand-ins without executing it."""
    plan = build_plan(query, executor.catalog())
    return Result.from_arrow(executor.con.sql(f"DESCRIBE {plan.stand_ins.sql(plan.statement)}")
                             .to_arrow_table())


def _over_rows(query: exp.Query, executor: "Executor", progress: ProgressCallback | None,
               statement: Callable[[str], str]) -> Result:
    """Run ``query``, then the DuckDB statement ``statement(name)`` over its rows, registered
    under ``name`` (SUMMARIZE, COPY ... TO: DuckDB's own work on the answers)."""
    result, _, _ = executor.run(query, progress)
    rows: pa.Table = result.arrow()
    executor.con.register(_ROWS, rows)
    try:
        return Result.from_arrow(executor.con.sql(statement(_ROWS)).to_arrow_table())
    finally:
        executor.con.unregister(_ROWS)
