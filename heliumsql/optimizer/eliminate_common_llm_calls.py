"""Identical LLM calls anywhere in a statement become one node, and within a node identical
prompts are generated once.

Two calls are identical when function, prompt expression and every option match. Because a
node's UDF maps rendered prompt text to the answer, the merged node may read the union of both
inputs, and identical prompts across both call sites are generated once. A merge that would make
the plan cyclic (one call reads the other's result) is skipped, and so is a filter that stops
early under a LIMIT (its unanswered prompts read as False, which only its own call site may see).
Every node is marked ``dedupe_prompts``: with the optimizer off each row is its own request.

>>> from heliumsql.testing import logical_plan
>>> from heliumsql.optimizer import RuleContext, optimize
>>> SCHEMA = "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)"
>>> plan, con = logical_plan("SELECT llm('Hi {review}') AS a, llm('Hi {review}') AS b "
...                          "FROM reviews", SCHEMA)
>>> [n.id for n in optimize(plan, RuleContext(con), (eliminate_common_llm_calls,)).nodes]
[1]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from heliumsql.optimizer.rewrite import ids, note, rename_calls, toposort
from heliumsql.plan.nodes import TABLE_KINDS, LlmNode, LogicalPlan
from heliumsql.plan.names import dependencies

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "eliminate_common_llm_calls"


def _key(node: LlmNode) -> tuple:
    call = node.call
    # An LLM join's node counts its own pairs (and may ask another question): never merged.
    return (call.function, call.prompt.sql("duckdb"), call.options, node.limit,
            node.join is not None and node.id)


def _union(a: exp.Query | None, b: exp.Query | None) -> exp.Query | None:
    if a is None or b is None:
        return a or b
    if a == b:
        return a

    def side(query: exp.Query, alias: str) -> exp.Select:
        return exp.select("prompt").from_(exp.Subquery(
            this=query.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))

    return exp.union(side(a, "_a"), side(b, "_b"), distinct=False)


def _merge(plan: LogicalPlan, keep: LlmNode, drop: LlmNode) -> LogicalPlan | None:
    merged_input = rename_calls(_union(keep.input, drop.input), drop.id, keep.id)
    if keep.id in dependencies(merged_input):
        return None  # one call reads the other's answers (e.g. through a subquery)
    nodes = []
    for node in plan.nodes:
        if node.id == drop.id:
            continue
        source = merged_input if node.id == keep.id else rename_calls(node.input, drop.id, keep.id)
        if node.id == keep.id or source is not node.input:
            deps = tuple(d for d in dependencies(source) if d != keep.id)
            node = replace(node, input=source, deps=deps,
                           reason="" if source is not None else node.reason)
        if drop.id in node.filter_chain:
            chain = (keep.id if i == drop.id else i for i in node.filter_chain)
            node = replace(node, filter_chain=tuple(dict.fromkeys(chain)))
        nodes.append(node)
    ordered = toposort(nodes)
    if ordered is None:
        return None
    merged = replace(plan, nodes=tuple(ordered),
                     statement=rename_calls(plan.statement, drop.id, keep.id))
    return note(merged, _RULE, f"merged #{drop.id} into #{keep.id}")


def _upstream(plan: LogicalPlan) -> dict[int, set[int]]:
    """Every node's transitive dependencies."""
    found: dict[int, set[int]] = {}
    for node in plan.nodes:  # in execution order, so every dependency is already done
        found[node.id] = set(node.deps).union(*(found.get(d, set()) for d in node.deps))
    return found


def eliminate_common_llm_calls(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Merge every group of identical scalar/filter/aggregate calls into its first node, then
    mark every node to generate each distinct prompt once."""
    keys = {n.id: _key(n) for n in plan.nodes if n.call.kind not in TABLE_KINDS}
    changed = len(set(keys.values())) < len(keys)
    while changed:
        changed = False
        first: dict[tuple, LlmNode] = {}
        upstream = _upstream(plan)
        for node in plan.nodes:
            if node.id not in keys:
                continue
            keep = first.setdefault(keys[node.id], node)
            if keep is node:
                continue
            if keep.id in upstream[node.id] or node.id in upstream[keep.id]:
                continue  # one reads the other's answers (a chain of rounds): merging loops
            merged = _merge(plan, keep, node)
            if merged is not None:
                plan, changed = merged, True
                break
    todo = [n.id for n in plan.nodes if not n.dedupe_prompts]
    if todo:
        plan = replace(plan, nodes=tuple(replace(n, dedupe_prompts=True) for n in plan.nodes))
        plan = note(plan, _RULE, f"identical prompts generated once in {ids(todo)}")
    return plan
