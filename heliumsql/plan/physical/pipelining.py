"""Which nodes may be row-pipelined, and the partial input each one reads.

A node whose input is *row-wise* over its upstream answers (every output row depends on one
row of each source: no aggregate, window, DISTINCT, LIMIT, ORDER BY, GROUP BY, set operation,
outer join or subquery expression) can be read before its upstream nodes finish. Its
*partial input* is the input with, in every SELECT that reads an upstream answer
``__helium_<u>(p)``, the conjunct ``__helium_ready_<u>(p)`` (true once ``p`` has its
answer): a row whose prompt would depend on a pending answer is dropped where that answer is
read, and, the query being row-wise, dropping it changes no other row. So a prompt submitted
early is always one the full input has: no request is wasted. For any other input, reading
it early could produce prompts the full input does not have, so such nodes start when their
upstream nodes finish.

>>> import sqlglot
>>> source = sqlglot.parse_one("SELECT concat('Then ', __helium_1(x)) AS prompt FROM items")
>>> row_wise(source), partial_input(source, {1}).sql("duckdb")
(True, "SELECT 'Then ' || __HELIUM_1(x) AS prompt FROM items WHERE __HELIUM_READY_1(x)")
"""

from __future__ import annotations

from sqlglot import exp

from heliumsql.plan.names import map_tables, node_id, ready_udf_name, udf_calls
from heliumsql.plan.nodes import LlmNode, LogicalPlan

# Clauses and expressions that make a query not row-wise (or its rows not reproducible).
_NOT_ROW_WISE = (exp.SetOperation, exp.AggFunc, exp.Window, exp.Distinct, exp.Limit, exp.Offset,
                 exp.Fetch, exp.Order, exp.Group, exp.Having, exp.Qualify, exp.Exists, exp.Unnest,
                 exp.Explode, exp.Rand, exp.Randn, exp.Randstr, exp.Uuid, exp.Lateral)
# Kinds whose answers are stored per prompt and looked up by the node's UDF.
_PER_PROMPT = ("scalar", "filter")


def row_wise(query: exp.Expr | None) -> bool:
    """Whether every output row of ``query`` comes from one row of each of its sources."""
    if not isinstance(query, exp.Select) or query.find(*_NOT_ROW_WISE):
        return False
    for select in query.find_all(exp.Select):
        if select is query:
            continue
        parent = select.parent
        if isinstance(parent, exp.CTE):
            continue
        if not (isinstance(parent, exp.Subquery) and isinstance(parent.parent, (exp.From, exp.Join))):
            return False  # a scalar or IN subquery: not row-wise in general
    for join in query.find_all(exp.Join):
        if join.side or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
            return False  # an outer join turns a dropped row into a NULL-extended one
    return True


def partial_input(source: exp.Select, upstream: set[int]) -> exp.Select:
    """``source`` keeping only the rows whose upstream answers all exist."""
    query = source.copy()
    ready: dict[int, list[exp.Expr]] = {}
    for call in udf_calls(query):
        member = node_id(call)
        if member in upstream:
            select = call.find_ancestor(exp.Select)
            ready.setdefault(id(select), [select]).append(exp.Anonymous(
                this=ready_udf_name(member), expressions=[a.copy() for a in call.expressions]))
    for select, *conditions in ready.values():
        select.where(*conditions, copy=False)
    return query


def can_pipeline(node: LlmNode, plan: LogicalPlan) -> bool:
    """Whether pipelining ``node`` is sound and useful: a scalar or filter node without a LIMIT
    or filter chain, deduplicating its prompts, reading only per-prompt answers of upstream
    nodes that have inputs, row-wise."""
    if node.call.kind not in _PER_PROMPT or node.limit is not None or not node.deps:
        return False
    if not node.dedupe_prompts or node.filter_chain or map_tables(node.input):
        return False
    nodes = {n.id: n for n in plan.nodes}
    for dep in node.deps:
        upstream = nodes.get(dep)
        if upstream is None or upstream.input is None or upstream.call.kind not in _PER_PROMPT:
            return False
    return isinstance(node.input, exp.Select) and row_wise(node.input)
