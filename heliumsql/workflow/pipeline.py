"""Row-level pipelining: a downstream node starts on the rows whose upstream answers exist.

A node whose input is *row-wise* over its upstream answers (every output row depends on one
row of each source: no aggregate, window, DISTINCT, LIMIT, ORDER BY, GROUP BY, set operation,
outer join or subquery expression) can be read before its upstream nodes finish. Its
*partial input* is the input with, in every SELECT that reads an upstream answer
``__helium_<u>(p)``, the conjunct ``__helium_ready_<u>(p)`` (true once ``p`` has its
answer): a row whose prompt would depend on a pending answer is dropped where that answer is
read, and, the query being row-wise, dropping it changes no other row. While ``u`` runs, its
answers are stored as they arrive and lookups of pending prompts answer NULL (never on
demand; see ``QueryRuntime.pending``).

The runner reads the partial input each time the upstream nodes delivered a few more answers
and submits the prompts it has not submitted yet; when every upstream node is done it reads
the full input once and submits the rest. Answers are looked up by prompt, so correctness
never depends on this; a prompt submitted early that the full input does not have is
*wasted* (counted in ``PipelineRun``; none for a row-wise input).

>>> pipe = PipedNode.for_node(node, plan)          # doctest: +SKIP
>>> pipe.partial                                    # doctest: +SKIP
"SELECT concat('Then ', __helium_1(...)) AS prompt FROM items WHERE __helium_ready_1(...)"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from heliumsql.optimizer.rewrite import map_tables, node_id, udf_calls
from heliumsql.plan.nodes import LlmNode, LogicalPlan

# Clauses and expressions that make a query not row-wise (or its rows not reproducible).
_NOT_ROW_WISE = (exp.SetOperation, exp.AggFunc, exp.Window, exp.Distinct, exp.Limit, exp.Offset,
                 exp.Fetch, exp.Order, exp.Group, exp.Having, exp.Qualify, exp.Exists, exp.Unnest,
                 exp.Explode, exp.Rand, exp.Randn, exp.Randstr, exp.Uuid, exp.Lateral)
# Kinds whose answers are stored per prompt and looked up by the node's UDF.
_PER_PROMPT = ("scalar", "filter")


def ready_udf(node: int) -> str:
    """Name of the UDF that says whether ``node`` has answered a prompt yet."""
    return f"__helium_ready_{node}"


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
            ready.setdefault(id(select), [select]).append(
                exp.Anonymous(this=ready_udf(member), expressions=[a.copy() for a in call.expressions]))
    for select, *conditions in ready.values():
        select.where(*conditions, copy=False)
    return query


@dataclass
class PipedNode:
    """Pipelining state of one downstream node: ``partial`` input (DuckDB SQL, rendered once:
    it is read many times), the keys submitted early, answers delivered by its upstream nodes
    since its partial input was last read."""

    node: LlmNode
    upstream: tuple[int, ...]
    partial: str
    submitted: set[tuple[str, int]] = field(default_factory=set)
    fresh: int = 0
    reads: int = 0
    wasted: int = 0

    @classmethod
    def for_node(cls, node: LlmNode, plan: LogicalPlan) -> PipedNode | None:
        """Pipelining for ``node`` if sound and useful: a scalar or filter node without a
        LIMIT, reading per-prompt answers of upstream nodes that have inputs, row-wise."""
        if node.call.kind not in _PER_PROMPT or node.limit is not None or not node.deps:
            return None
        if not node.dedupe_prompts or node.filter_chain or map_tables(node.input):
            return None
        nodes = {n.id: n for n in plan.nodes}
        for dep in node.deps:
            upstream = nodes.get(dep)
            if upstream is None or upstream.input is None or upstream.call.kind not in _PER_PROMPT:
                return None
        if not row_wise(node.input):
            return None
        return cls(node, node.deps, partial_input(node.input, set(node.deps)).sql("duckdb"))

