"""``LIMIT n`` stops LLM work early.

- Over an LLM map (a SELECT-list call of a SELECT with LIMIT, no DISTINCT, not ordered by its
  own answers): the node's input takes the SELECT's ORDER BY (aliases and positions resolved
  to expressions), LIMIT and OFFSET, so only the rows the LIMIT keeps are computed. Should the
  final query keep other rows (ties), the UDF computes those few on demand.
- Over an LLM filter (a WHERE conjunct of such a SELECT, with no grouping or aggregates after
  it, every other WHERE conjunct already in its input): the node gets ``limit = n + offset``
  and an input in the SELECT's order; the runtime streams it until that many rows passed and
  answers False for what it never computed. The final query cannot see those rows: its LIMIT
  is already filled by rows that come earlier in its order.

- Through a CTE or subquery: a SELECT that only passes on the rows of one CTE (read once)
  or subquery hands its ORDER BY and LIMIT to that query first, so the calls there are
  limited as above.

With the optimizer off none of this happens: every row is computed and the final query cuts.

>>> from heliumsql.testing import logical_plan
>>> from heliumsql.optimizer import RuleContext, optimize
>>> SCHEMA = "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)"
>>> plan, con = logical_plan("SELECT id, llm('{review}') AS s FROM reviews ORDER BY id LIMIT 2",
...                          SCHEMA)
>>> optimize(plan, RuleContext(con), (push_down_limits,)).nodes[0].input.sql("duckdb")
"SELECT CONCAT(COALESCE(CAST(review AS TEXT), '')) AS prompt FROM reviews ORDER BY id LIMIT 2"
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from heliumsql.grammar.dialect import display_sql
from heliumsql.optimizer.rewrite import (
    defining_query,
    node_id,
    note,
    refresh_copies,
    udf_calls,
    with_input,
)
from heliumsql.plan.nodes import TABLE_KINDS, LlmNode, LogicalPlan
from heliumsql.scopes import between, conjuncts, scope_of

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "push_down_limits"


def _resolved_order(scope: exp.Select, allowed: set[int]) -> exp.Order | None | bool:
    """``scope``'s ORDER BY restated without output aliases or positions; None if it has
    none; False if it needs answers of nodes not in ``allowed``."""
    order = scope.args.get("order")
    if order is None:
        return None
    aliases = {p.alias.lower(): p.this for p in scope.expressions if isinstance(p, exp.Alias)}
    items = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int:
            position = int(key.name) - 1
            if not 0 <= position < len(scope.expressions):
                return False
            key = scope.expressions[position]
            if isinstance(key, exp.Star) or key.find(exp.Star):
                return False
            key = key.unalias()
        else:
            # DuckDB binds an ORDER BY name to an output alias before a source column.
            key = key.transform(lambda e: aliases[e.name.lower()].copy() if isinstance(e, exp.Column)
                                and not e.table and e.name.lower() in aliases else e)
        if any(node_id(c) not in allowed for c in udf_calls(key)):
            return False
        item = ordered.copy()
        item.set("this", key.copy())
        items.append(item)
    return exp.Order(expressions=items)


def _limit_value(scope: exp.Select) -> int | None:
    """LIMIT + OFFSET when both are integer literals."""
    def value(key: str) -> int | None:
        clause = scope.args.get(key)
        if clause is None:
            return 0
        literal = clause.args.get("expression")
        return int(literal.name) if isinstance(literal, exp.Literal) and literal.is_int else None

    limit, offset = value("limit"), value("offset")
    return None if limit is None or offset is None else limit + offset


def _with_order(source: exp.Select, order: exp.Order | None) -> exp.Select:
    new = source.copy()
    new.set("order", order.copy() if order is not None else None)
    return new


def _limit_map(node: LlmNode, call: exp.Expr, scope: exp.Select, order: exp.Order | None,
               ctx: "RuleContext") -> LlmNode | None:
    if scope.args.get("distinct") or scope.args.get("qualify"):
        return None
    if between(call, scope, (exp.AggFunc, exp.Window)):
        return None  # the call feeds an aggregate: every row of the group counts
    if not isinstance(node.input, exp.Select):
        return None
    limited = _with_order(node.input, order)
    for key in ("limit", "offset"):
        if scope.args.get(key) is not None:
            limited.set(key, scope.args[key].copy())
    if ctx.con is not None and not ctx.binds(limited):
        return None
    return with_input(node, limited)


def _limit_filter(plan: LogicalPlan, node: LlmNode, call: exp.Expr, scope: exp.Select,
                  order: exp.Order | None) -> LlmNode | None:
    where = scope.args.get("where")
    if where is None or not any(c is call for c in conjuncts(where.this)):
        return None  # only a plain ``AND llm_filter(...)`` decides alone whether a row passes
    if any(scope.args.get(k) for k in ("group", "having", "distinct", "qualify")):
        return None
    aggregates = {n.id for n in plan.nodes if n.call.kind == "aggregate"}
    for projection in scope.expressions:
        if projection.find(exp.AggFunc, exp.Window) or \
                any(node_id(c) in aggregates for c in udf_calls(projection)):
            return None  # LIMIT applies after aggregation, not to the filtered rows
    for other in conjuncts(where.this):
        if other is not call and any(node_id(c) not in node.deps for c in udf_calls(other)):
            return None  # another LLM conjunct runs after this one: rows could still drop out
    limit = _limit_value(scope)
    if limit is None or not isinstance(node.input, exp.Select):
        return None
    return replace(with_input(node, _with_order(node.input, order)), limit=limit)


def _source_order(select: exp.Select, target: exp.Select) -> exp.Order | None | bool:
    """``select``'s ORDER BY restated over ``target``'s output columns (``select`` reads only
    ``target``); None without one; False if it cannot be (an LLM answer of ``select``, a
    position or name that does not name a plain column of ``target``)."""
    order = _resolved_order(select, allowed=set())
    if not isinstance(order, exp.Order):
        return order
    outputs = {p.alias_or_name.lower(): p for p in target.expressions}
    star = any(isinstance(p, exp.Star) for p in target.expressions)
    for item in order.expressions:
        key = item.this
        if key.find(exp.AggFunc, exp.Window, exp.Query):
            return False
        for column in key.find_all(exp.Column):
            output = outputs.get(column.name.lower())
            if (output is None and not star) or (output is not None and udf_calls(output)):
                return False  # unknown, or ordered by an LLM answer: all rows are needed anyway
        item.set("this", key.transform(lambda e: exp.column(e.name) if isinstance(e, exp.Column)
                                       else e))
    return order


def _into_sources(plan: LogicalPlan) -> LogicalPlan:
    """A SELECT that only passes on rows of one CTE or subquery (no WHERE, join, grouping,
    DISTINCT, aggregate or window) hands its ORDER BY and LIMIT to that query, so the calls
    there are limited too: the SELECT's first rows are that query's first rows."""
    if not any(s.args.get("limit") and s.args.get("from_") for s in plan.statement.find_all(exp.Select)):
        return plan
    statement, changed, notes = plan.statement.copy(), [], []
    for select in [s for s in statement.find_all(exp.Select) if s.args.get("limit")]:
        if any(select.args.get(k) for k in ("where", "joins", "laterals", "group", "having",
                                            "distinct", "qualify")):
            continue
        if any(p.find(exp.AggFunc, exp.Window, exp.Explode, exp.Unnest) for p in select.expressions):
            continue
        limit, from_ = _limit_value(select), select.args.get("from_")
        if limit is None or from_ is None:
            continue
        found = defining_query(statement, select, from_.this)
        if found is None or not isinstance(found[0], exp.Select):
            continue
        target, name, label = found
        if any(target.args.get(k) for k in ("limit", "offset", "fetch")):
            continue
        order = _source_order(select, target)
        if order is False:
            continue
        before = target.sql("duckdb")
        target.set("order", order)
        target.set("limit", exp.Limit(expression=exp.Literal.number(limit)))
        changed.append((name, before, target))
        notes.append(f"LIMIT {limit} pushed into {label}")
    if not changed:
        return plan
    nodes = tuple(with_input(n, refresh_copies(n.input, changed)) for n in plan.nodes)
    plan = replace(plan, statement=statement, nodes=nodes)
    for what in notes:
        plan = note(plan, _RULE, what)
    return plan


def push_down_limits(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Narrow the input of SELECT-list calls under LIMIT; mark filters under LIMIT to stop."""
    plan = _into_sources(plan)
    done: set[int] = set()
    for node in plan.nodes:
        done.add(node.id)
        if node.input is None or node.call.kind in TABLE_KINDS or node.limit is not None:
            continue
        calls = udf_calls(plan.statement, node.id)
        if len(calls) != 1:
            continue
        call = calls[0]
        scope, clause = scope_of(call)
        if scope is None or scope.args.get("limit") is None:
            continue
        order = _resolved_order(scope, done - {node.id})
        if order is False:
            continue
        limit_text = display_sql(scope.args["limit"]).strip()
        if clause == "expressions":
            new = _limit_map(node, call, scope, order or None, ctx)
            what = f"{limit_text} pushed into #{node.id}"
        elif clause == "where" and node.call.kind == "filter":
            new = _limit_filter(plan, node, call, scope, order or None)
            what = f"#{node.id} stops once {new.limit if new else 0} rows pass ({limit_text})"
        else:
            new = None
        if new is not None and new != node:
            plan = replace(plan, nodes=tuple(new if n.id == node.id else n for n in plan.nodes))
            plan = note(plan, _RULE, what)
    return plan
