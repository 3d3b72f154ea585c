"""Identical LLM calls anywhere in a statement become one node.

Two calls are identical when function, prompt expression and every option match. Because a
node's UDF maps rendered prompt text to the answer, the merged node may read the union of both
inputs, and identical prompts across both call sites are generated once. A merge that would make
the plan cyclic (one call reads the other's result) is skipped.

>>> eliminate_common_llm_calls(plan, RuleContext()).nodes      # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.planner import dependencies

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext


def _key(node: LlmNode) -> tuple:
    call = node.call
    return (call.function, call.prompt.sql("duckdb"), call.options)


def _rename(tree: exp.Expr | None, old: str, new: str) -> exp.Expr | None:
    if tree is None or not any(f.name == old for f in tree.find_all(exp.Anonymous)):
        return tree

    def swap(e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Anonymous) and e.name == old:
            return exp.Anonymous(this=new, expressions=[a.copy() for a in e.expressions])
        return e

    return tree.transform(swap)


def _union(a: exp.Query | None, b: exp.Query | None) -> exp.Query | None:
    if a is None or b is None:
        return a or b
    if a == b:
        return a
    left = exp.select("prompt").from_(exp.Subquery(this=a.copy(), alias=exp.TableAlias(this=exp.to_identifier("_a"))))
    right = exp.select("prompt").from_(exp.Subquery(this=b.copy(), alias=exp.TableAlias(this=exp.to_identifier("_b"))))
    return exp.union(left, right, distinct=False)


def _toposort(nodes: list[LlmNode]) -> list[LlmNode] | None:
    """Stable topological order (original order among ready nodes); None on a cycle."""
    done: set[int] = set()
    ordered: list[LlmNode] = []
    remaining = list(nodes)
    while remaining:
        ready = next((n for n in remaining if all(d in done for d in n.deps)), None)
        if ready is None:
            return None
        ordered.append(ready)
        done.add(ready.id)
        remaining.remove(ready)
    return ordered


def _merge(plan: LogicalPlan, keep: LlmNode, drop: LlmNode) -> LogicalPlan | None:
    old, new = drop.udf_name, keep.udf_name
    merged_input = _rename(_union(keep.input, drop.input), old, new)
    if keep.id in dependencies(merged_input):
        return None  # one call reads the other's answers (e.g. through a subquery)
    nodes = []
    for node in plan.nodes:
        if node.id == drop.id:
            continue
        source = merged_input if node.id == keep.id else _rename(node.input, old, new)
        if node.id == keep.id or source is not node.input:
            deps = tuple(d for d in dependencies(source) if d != keep.id)
            node = replace(node, input=source, deps=deps,
                           reason="" if source is not None else node.reason)
        nodes.append(node)
    ordered = _toposort(nodes)
    if ordered is None:
        return None
    return replace(plan, nodes=tuple(ordered), statement=_rename(plan.statement, old, new))


def eliminate_common_llm_calls(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Merge every group of identical scalar/filter/aggregate calls into its first node."""
    changed = True
    while changed:
        changed = False
        first: dict[tuple, LlmNode] = {}
        for node in plan.nodes:
            if node.call.kind == "table":
                continue
            keep = first.setdefault(_key(node), node)
            if keep is node:
                continue
            merged = _merge(plan, keep, node)
            if merged is not None:
                plan, changed = merged, True
                break
    return plan
