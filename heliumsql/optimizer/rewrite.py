"""Small edits every rule makes to a plan: find a node's UDF calls, swap them, re-derive a
node's dependencies, restore an execution order, and record what a rule did.

A node's answers appear in SQL as ``__helium_<id>(<prompt>)`` (an ``exp.Anonymous``) and an
``llm_map``'s rows as the table ``__helium_map_<id>``; these helpers work on those names.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT __helium_2(concat('a', x)) FROM t")
>>> [node_id(c) for c in udf_calls(tree)]
[2]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlglot import exp

from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.planner import dependencies

_UDF = re.compile(r"^__helium_(\d+)$")
_MAP_TABLE = re.compile(r"^__helium_map_(\d+)$")


def node_id(call: exp.Expr) -> int | None:
    """The node id of a ``__helium_<id>(...)`` call, else None."""
    if isinstance(call, exp.Anonymous):
        match = _UDF.match(call.name)
        if match:
            return int(match[1])
    return None


def map_table_id(table: exp.Expr) -> int | None:
    """The node id of an ``llm_map`` result table ``__helium_map_<id>``, else None."""
    if isinstance(table, exp.Table) and not table.args.get("db"):
        match = _MAP_TABLE.match(table.name)
        if match:
            return int(match[1])
    return None


def map_tables(tree: exp.Expr | None) -> set[int]:
    """Ids of the ``llm_map`` nodes whose tables ``tree`` reads."""
    if tree is None:
        return set()
    return {i for t in tree.find_all(exp.Table) if (i := map_table_id(t)) is not None}


def udf_calls(tree: exp.Expr | None, node: int | None = None) -> list[exp.Anonymous]:
    """Every ``__helium_<id>(...)`` call in ``tree`` (only node ``node``'s when given)."""
    if tree is None:
        return []
    return [c for c in tree.find_all(exp.Anonymous)
            if (i := node_id(c)) is not None and (node is None or i == node)]


def transform_calls(tree: exp.Expr | None, node: int | set[int],
                    fn: Callable[[exp.Anonymous], exp.Expr]) -> exp.Expr | None:
    """A copy of ``tree`` with each call of ``node`` (an id or a set of ids) replaced by
    ``fn(call)``; ``tree`` itself when it has none (so rules can tell what changed by
    identity)."""
    wanted = {node} if isinstance(node, int) else node
    if tree is None or not any(node_id(c) in wanted for c in udf_calls(tree)):
        return tree
    copy = tree.copy()
    for call in udf_calls(copy):
        if node_id(call) in wanted:
            call.replace(fn(call))
    return copy


def rename_calls(tree: exp.Expr | None, old: int, new: int) -> exp.Expr | None:
    """``tree`` with node ``old``'s calls turned into node ``new``'s."""
    return transform_calls(tree, old, lambda c: exp.Anonymous(
        this=f"__helium_{new}", expressions=[a.copy() for a in c.expressions]))


def with_input(node: LlmNode, source: exp.Query | None) -> LlmNode:
    """``node`` reading ``source``, its dependencies re-derived from it."""
    if source is node.input:
        return node
    return replace(node, input=source, deps=dependencies(source))


def toposort(nodes: Iterable[LlmNode], rank: Callable[[LlmNode], object] | None = None
             ) -> list[LlmNode] | None:
    """A valid execution order: among ready nodes the lowest ``rank`` (default: the given
    order) goes first. None if the dependencies form a cycle."""
    remaining = list(nodes)
    position = {n.id: i for i, n in enumerate(remaining)}
    key = rank or (lambda n: position[n.id])
    present = set(position)
    done: set[int] = set()
    ordered: list[LlmNode] = []
    while remaining:
        ready = [n for n in remaining if all(d in done or d not in present for d in n.deps)]
        if not ready:
            return None
        first = min(ready, key=key)  # type: ignore[type-var]
        ordered.append(first)
        done.add(first.id)
        remaining.remove(first)
    return ordered


def note(plan: LogicalPlan, rule: str, what: str) -> LogicalPlan:
    """``plan`` with one more line of what ``rule`` did (EXPLAIN prints it)."""
    return replace(plan, notes=plan.notes + ((rule, what),))


def ids(numbers: Iterable[int]) -> str:
    """``#1, #2`` for EXPLAIN notes."""
    return ", ".join(f"#{n}" for n in numbers)
