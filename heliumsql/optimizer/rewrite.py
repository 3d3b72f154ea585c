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

from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlglot import exp

from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.plan.names import dependencies, map_table_id, map_tables, node_id, udf_calls, udf_name

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
        this=udf_name(new), expressions=[a.copy() for a in c.expressions]))


def cte_named(select: exp.Expr, name: str) -> exp.CTE | None:
    """The CTE ``name`` as ``select`` sees it: in every enclosing WITH, but in the WITH that
    defines ``select``'s own CTE only the ones before it (None if recursive or not found)."""
    path = []
    node: exp.Expr | None = select
    while node is not None:
        path.append(node)
        node = node.parent
    on_path = {id(n) for n in path}
    for node in path:
        with_ = node.args.get("with_")
        if not isinstance(with_, exp.With):
            continue
        if with_.args.get("recursive"):
            return None
        listed = with_.expressions
        inside = next((i for i, c in enumerate(listed) if id(c) in on_path), len(listed))
        found = [c for c in listed[:inside] if c.alias.lower() == name.lower()]
        if found:
            return found[-1]
    return None


def defining_query(statement: exp.Expr, select: exp.Select, source: exp.Expr
                   ) -> tuple[exp.Query, str, str] | None:
    """For a FROM/JOIN ``source`` of ``select``: (the query that defines its rows, its name,
    a label for EXPLAIN notes), if a rule may change that query for this reader alone: a
    subquery, or a CTE no other part of ``statement`` reads."""
    if isinstance(source, exp.Subquery):
        name = source.alias_or_name
        return source.this, name.lower(), f"subquery {name}"
    if not isinstance(source, exp.Table) or source.args.get("db"):
        return None
    cte = cte_named(select, source.name)
    readers = [t for t in statement.find_all(exp.Table)
               if t.name.lower() == source.name.lower() and not t.args.get("db")]
    if cte is None or len(readers) != 1:
        return None
    return cte.this, cte.alias.lower(), f"CTE {cte.alias}"


def refresh_copies(source: exp.Query | None, changed: list[tuple[str, str, exp.Query]]
                   ) -> exp.Query | None:
    """``source`` (a node's input) with its copies of changed CTEs/subqueries replaced:
    ``changed`` lists (name, SQL before the change, the query now); a copy is recognised by
    its name and its old SQL."""
    if source is None or not changed:
        return source
    names = {name for name, _, _ in changed}
    old = {text: query for _, text, query in changed}

    def copies(tree: exp.Expr) -> list[exp.Expr]:
        found = [c.this for c in tree.find_all(exp.CTE) if c.alias.lower() in names]
        return found + [s.this for s in tree.find_all(exp.Subquery) if s.alias.lower() in names]

    if not any(c.sql("duckdb") in old for c in copies(source)):
        return source
    new = source.copy()
    for copy in copies(new):
        query = old.get(copy.sql("duckdb"))
        if query is not None:
            copy.replace(query.copy())
    return new


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
