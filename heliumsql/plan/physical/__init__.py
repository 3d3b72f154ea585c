"""Physical planning: decide, once per LLM node, how it runs (see :mod:`.plan`).

>>> import heliumsql, sqlglot
>>> from heliumsql.executor import Executor
>>> con = heliumsql.connect(result_cache=None)
>>> _ = con.sql("CREATE TABLE t AS SELECT 'a' AS x")
>>> statement = sqlglot.parse_one("SELECT llm('Say {x}') AS y FROM t LIMIT 1", read="helium")
>>> plan = Executor(con.duckdb, lambda: None).plan(statement)
>>> [(n.id, n.strategy) for n in plan.nodes]
[(1, 'batch')]
"""

from __future__ import annotations

from sqlglot import exp

from heliumsql.optimizer.factor_prompt_prefixes import static_text
from heliumsql.plan.llm_join import NESTED_LOOP
from heliumsql.plan.nodes import EMBEDDING_KINDS, LlmNode, LogicalPlan
from heliumsql.plan.physical.chains import adaptive_chains
from heliumsql.plan.physical.pipelining import can_pipeline
from heliumsql.plan.physical.plan import STRATEGIES, ChainPlan, NodePlan, PhysicalPlan
from heliumsql.vector_search import EXACT_SEARCH_ROWS


def _ids(numbers: tuple[int, ...]) -> str:
    return ",".join(f"#{i}" for i in numbers)


def _static(node: LlmNode) -> dict[str, str | None]:
    text, _ = static_text(node.call.prompt)
    return {"static_text": text, "system": node.call.option("system") or None}


def _node_plan(node: LlmNode, chain: ChainPlan | None, scheduled: bool, pipelining: bool,
               plan: LogicalPlan) -> NodePlan:
    static = _static(node)
    if node.input is None:
        return NodePlan(node, "on_demand", node.reason, **static)
    reads = f"after {_ids(node.deps)}" if node.deps else "no upstream LLM node"
    if node.call.kind in EMBEDDING_KINDS:
        return NodePlan(node, node.call.kind, f"{_embedding_why(node)}, {reads}", node.deps)
    if node.join is not None:
        if not scheduled and node.join.strategy == NESTED_LOOP:
            # The reference the LLM join is checked against: DuckDB asks as it meets pairs.
            return NodePlan(node, "on_demand", "optimizer off: in a JOIN condition, computed "
                            "on the spot pair by pair", **static)
        return NodePlan(node, "llm_join", f"{node.join.describe()}, {reads}", node.deps,
                        **static)
    if not scheduled:
        return NodePlan(node, "batch", f"optimizer off: every row a request, in arrival order, "
                        f"{reads}", node.deps, **static)
    if chain is not None:
        waits = tuple(d for d in node.deps if d not in chain.members)
        return NodePlan(node, "chain", f"adaptive chain of {_ids(chain.members)} "
                        "(same WHERE, no LIMIT)", waits, chain=chain, **static)
    if node.call.kind == "filter" and node.limit is not None:
        return NodePlan(node, "limit", f"stop once {node.limit} rows pass, {reads}", node.deps,
                        limit=node.limit, **static)
    if pipelining and can_pipeline(node, plan):
        return NodePlan(node, "pipelined", f"row-wise over {_ids(node.deps)}: starts on rows "
                        "whose answers exist", node.deps, upstream=node.deps, **static)
    return NodePlan(node, "batch", f"all prompts at once, {reads}", node.deps, **static)


def _embedding_why(node: LlmNode) -> str:
    model = node.call.option("model")
    by = f"model {model!r}" if model else "the connection's embedding model"
    if node.call.kind == "embed":
        return f"each distinct text once, in batches, by {by}"
    k, method = node.call.option("k"), node.call.option("method")
    how = {"exact": "exact (DuckDB array_cosine_similarity)",
           "index": "approximate (HNSW index, usearch)",
           "auto": f"exact below {EXACT_SEARCH_ROWS} rows, else approximate (HNSW index, usearch)"}
    return f"top {k} by cosine similarity, {how[method]}, query embedded by {by}"


def plan_physical(plan: LogicalPlan, *, scheduled: bool = True, adaptive_filters: bool = True,
                  pipelining: bool = True) -> PhysicalPlan:
    """Decide every node's strategy. ``scheduled`` (the optimizer setting) runs the nodes as
    one graph; ``adaptive_filters`` and ``pipelining`` allow those strategies where sound."""
    chains = adaptive_chains(plan) if scheduled and adaptive_filters else []
    member_of = {m: c for c in chains for m in c.members}
    nodes = tuple(_node_plan(n, member_of.get(n.id), scheduled, pipelining, plan)
                  for n in plan.nodes)
    statement = plan.statement
    sql = statement.sql("duckdb") if isinstance(statement, exp.Expr) else str(statement)
    return PhysicalPlan(plan, nodes, sql, scheduled)


__all__ = ["STRATEGIES", "ChainPlan", "NodePlan", "PhysicalPlan", "plan_physical"]
