"""LLM calls whose answers the query never uses are not computed.

sqlglot's projection analysis (``qualify`` + ``pushdown_projections``) decides which columns of
every CTE and subquery the statement's output needs, with all of SQL's rules (DISTINCT, set
operations, GROUP BY ordinals, stars). A ``__helium_<id>(...)`` call that only feeds unneeded
columns is replaced by a typed NULL, and a node whose every call in the statement is unneeded
is dropped. Its calls are nulled in the other nodes' inputs too: an input only carries copies
of the statement's CTEs and subqueries and reads a subset of what the statement reads there,
so a column nobody in the statement needs is not needed by any input either. Dependencies are
then re-derived (nodes that only seemed to read each other can run side by side), and nodes no
remaining node or statement reads are dropped. When the analysis cannot be sure (a star over a
table whose columns are unknown, a column it cannot place) nothing is pruned.

>>> from heliumsql.testing import logical_plan
>>> from heliumsql.optimizer import RuleContext, optimize
>>> SCHEMA = "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)"
>>> plan, con = logical_plan("WITH t AS (SELECT id, llm('a {review}') AS a, llm('b {review}') AS b "
...                          "FROM reviews) SELECT id, a FROM t", SCHEMA)
>>> [n.call.text for n in optimize(plan, RuleContext(con), (prune_llm_columns,)).nodes]
["llm('a {review}')"]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify

from heliumsql.optimizer.rewrite import (
    ids,
    map_table_id,
    map_tables,
    node_id,
    note,
    transform_calls,
    udf_calls,
    with_input,
)
from heliumsql.plan.nodes import TABLE_KINDS, LlmNode, LogicalPlan

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "prune_llm_columns"
_MARK = "__helium_occurrence_"


def _schema(tree: exp.Expr, ctx: "RuleContext", known: dict[str, dict[str, str]]
            ) -> dict[str, dict[str, str]]:
    """Columns of the tables ``tree`` reads (not its CTEs), as qualify wants them; ``known``
    caches them across the trees of one plan."""
    ctes = {c.alias.lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name
        if name and not table.args.get("db") and name.lower() not in ctes and name not in known:
            columns = ctx.table_columns(name)
            if columns is not None:
                known[name] = {c: "VARCHAR" for c in columns}
    return known


def _unplaced_column(tree: exp.Expr) -> bool:
    """A column qualify could not attach to a source: the analysis might then miss a use.
    ORDER BY may name the SELECT's own output columns; those are placed."""
    for column in tree.find_all(exp.Column):
        if column.table or isinstance(column.this, exp.Star):
            continue
        order = column.find_ancestor(exp.Order, exp.Select)
        select = order.parent if isinstance(order, exp.Order) else None
        if isinstance(select, exp.Select) and column.name in select.named_selects:
            continue
        return True
    return False


def needed_calls(tree: exp.Expr, schema: dict[str, dict[str, str]]
                 ) -> tuple[set[int], set[int]] | None:
    """(positions in ``udf_calls(tree)`` whose value the tree's output needs, ids of the
    ``llm_map`` tables it still reads); None when the analysis cannot be trusted."""
    copy = tree.copy()
    for position, call in enumerate(udf_calls(copy)):
        # sqlglot keeps every unknown function (it might return a set); a known scalar
        # function carrying the position as a marker lets the analysis prune it.
        call.replace(exp.Coalesce(this=exp.Literal.string(f"{_MARK}{position}"),
                                  expressions=[a.copy() for a in call.expressions]))
    try:
        qualify(copy, schema=schema, dialect="duckdb", validate_qualify_columns=False,
                quote_identifiers=False, identify=False)
        if _unplaced_column(copy):
            return None
        pushdown_projections(copy)
    except (SqlglotError, KeyError, ValueError, AssertionError):
        return None
    positions = {int(c.this.name[len(_MARK):]) for c in copy.find_all(exp.Coalesce)
                 if isinstance(c.this, exp.Literal) and c.this.name.startswith(_MARK)}
    return positions, map_tables(copy)


def _output_selects(tree: exp.Expr) -> set[int]:
    """ids of the SELECTs whose columns are the statement's output."""
    root = tree if isinstance(tree, exp.Query) else tree.find(exp.Query)
    out, todo = set(), [root]
    while todo:
        query = todo.pop()
        if isinstance(query, exp.SetOperation):
            todo += [query.this, query.expression]
        elif isinstance(query, exp.Subquery):
            todo.append(query.this)
        elif query is not None:
            out.add(id(query))
    return out


def maybe_unneeded(tree: exp.Expr) -> bool:
    """A cheap screen before the full analysis: some call feeds a column that nothing names,
    or sits in a CTE that nothing reads. When every such column is named somewhere the tree
    is kept as it is (a column named only by an unused reader is then not pruned)."""
    names, tables, ctes, calls = set(), set(), [], []
    for e in tree.walk():
        if isinstance(e, exp.Column):
            names.add(e.name.lower())
        elif isinstance(e, exp.Table):
            tables.add(e.name.lower())
            if map_table_id(e) is not None:
                calls.append(e)
        elif isinstance(e, exp.CTE):
            ctes.append(e)
        elif node_id(e) is not None:
            calls.append(e)
    outputs = _output_selects(tree)
    holders: set[int] = set()  # CTEs holding a call
    for call in calls:
        child, parent = call, call.parent
        while parent is not None and not isinstance(parent, exp.Select):
            child, parent = parent, parent.parent
        if (parent is not None and id(parent) not in outputs and child.arg_key == "expressions"
                and child.alias_or_name.lower() not in names and not isinstance(call, exp.Table)):
            return True
        holder = call.find_ancestor(exp.CTE)
        while holder is not None:
            holders.add(id(holder))
            holder = holder.find_ancestor(exp.CTE)
    return any(cte.alias.lower() not in tables and id(cte) in holders for cte in ctes)


def _null(returns: str) -> exp.Expr:
    """A NULL of the pruned call's type (a typed answer keeps its type: the schema stays)."""
    return exp.cast(exp.null(), exp.DataType.build(returns or "VARCHAR", dialect="duckdb"))


def _trees(plan: LogicalPlan) -> list[exp.Expr]:
    return [plan.statement] + [n.input for n in plan.nodes if n.input is not None]


def _pruned(tree: exp.Expr, schema: dict[str, dict[str, str]], types: dict[int, str]
            ) -> tuple[exp.Expr, set[int] | None, set[int]]:
    """(``tree`` with unneeded calls nulled, positions of the needed calls, map tables it
    reads); positions None (and ``tree`` unchanged) when the analysis is unsure."""
    calls = udf_calls(tree)
    if not maybe_unneeded(tree):
        return tree, set(range(len(calls))), map_tables(tree)
    analysis = needed_calls(tree, schema)
    if analysis is None:
        return tree, None, map_tables(tree)
    needed, tables = analysis
    if len(needed) == len(calls):
        return tree, needed, tables
    copy = tree.copy()
    for position, call in enumerate(udf_calls(copy)):
        if position not in needed:
            call.replace(_null(types.get(node_id(call), "")))
    return copy, needed, tables


def prune_llm_columns(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Null out unneeded calls, drop nodes nobody reads, re-derive dependencies."""
    if not plan.nodes or not any(maybe_unneeded(t) for t in _trees(plan)):
        return plan
    schema: dict[str, dict[str, str]] = {}
    types = {n.id: n.call.returns for n in plan.nodes if n.call.kind not in TABLE_KINDS}
    calls = udf_calls(plan.statement)
    statement, needed, tables = _pruned(plan.statement, _schema(plan.statement, ctx, schema), types)
    if needed is None:
        return plan  # unsure about the statement: keep every call
    in_statement = {node_id(c) for c in calls}
    dead = in_statement - {node_id(calls[i]) for i in needed}
    nodes: dict[int, LlmNode] = {}
    for node in plan.nodes:
        source = transform_calls(node.input, dead, lambda c: _null(types[node_id(c)]))
        if source is not None and maybe_unneeded(source):
            source = _pruned(source, _schema(source, ctx, schema), types)[0]
        nodes[node.id] = with_input(node, source)
    live: set[int] = set()
    todo = {node_id(c) for c in udf_calls(statement)} | tables
    while todo:
        current = todo.pop()
        if current in live or current not in nodes:
            continue
        live.add(current)
        source = nodes[current].input
        todo |= {node_id(c) for c in udf_calls(source)} | map_tables(source)
    dropped = [n.id for n in plan.nodes if n.id not in live]
    kept = tuple(nodes[n.id] for n in plan.nodes if n.id in live)
    if statement is plan.statement and kept == plan.nodes:
        return plan
    pruned = replace(plan, nodes=kept, statement=statement)
    if dropped:
        pruned = note(pruned, _RULE, f"pruned {ids(dropped)} (answers never used)")
    narrowed = [n.id for n in kept if n.deps != plan.node(n.id).deps]
    if narrowed:
        pruned = note(pruned, _RULE, f"{ids(narrowed)} no longer read unused answers")
    return pruned
