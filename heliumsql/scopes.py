"""Where an expression sits in a statement: its SELECT and clause, the conjuncts of a WHERE,
the CTEs a SELECT can read. Plain sqlglot tree helpers shared by the planner, the optimizer
rules and the physical plan.

>>> import sqlglot, heliumsql.grammar
>>> q = sqlglot.parse_one("SELECT a FROM t WHERE x > 1 AND llm_filter('{y}')", read="helium")
>>> [c.sql() for c in conjuncts(q.args["where"].this)], has_llm(q.args["where"])
(['x > 1', "LLM_FILTER('{y}')"], True)
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from heliumsql.grammar.expressions import LlmFunc


def has_llm(expression: exp.Expr | None) -> bool:
    return expression is not None and expression.find(LlmFunc) is not None


def _children(e: exp.Expr) -> Iterator[exp.Expr]:
    # Argument order of the class (WITH first, then SELECT list, FROM, ...), not parse order.
    for key in type(e).arg_types:
        value = e.args.get(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, exp.Expr):
                yield v


def postorder(root: exp.Expr) -> dict[int, int]:
    order: dict[int, int] = {}

    def visit(e: exp.Expr) -> None:
        for child in _children(e):
            visit(child)
        order[id(e)] = len(order)

    visit(root)
    return order


def scope_of(call: exp.Expr) -> tuple[exp.Select | None, str]:
    """The SELECT a call is evaluated in and the clause (arg key) it sits in."""
    child, node = call, call.parent
    while node is not None:
        if isinstance(node, exp.Query):
            return (node if isinstance(node, exp.Select) else None), child.arg_key or ""
        child, node = node, node.parent
    return None, ""


def between(call: exp.Expr, scope: exp.Expr | None, kinds: tuple[type, ...]) -> bool:
    node = call.parent
    while node is not None and node is not scope:
        if isinstance(node, kinds) and not isinstance(node, LlmFunc):
            return True
        node = node.parent
    return False


def conjuncts(e: exp.Expr) -> list[exp.Expr]:
    if isinstance(e, exp.And):
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]


def visible(select: exp.Expr) -> tuple[list[exp.CTE], bool]:
    """The CTE nodes themselves (not copies) ``select`` can read, and whether a WITH on the
    way is recursive; see :func:`visible_ctes`."""
    chain, node = [], select
    while node is not None:
        chain.append(node)
        node = node.parent
    on_path = {id(n) for n in chain}
    ctes: list[exp.CTE] = []
    recursive = False
    for node in chain:
        with_ = node.args.get("with_") if isinstance(node, exp.Expr) else None
        if not isinstance(with_, exp.With):
            continue
        listed = with_.expressions
        inside = next((i for i, c in enumerate(listed) if id(c) in on_path), len(listed))
        ctes = [c for c in listed[:inside]] + ctes
        recursive = recursive or bool(with_.args.get("recursive"))
    seen: set[str] = set()
    kept = []
    for cte in reversed(ctes):
        if cte.alias.lower() not in seen:
            seen.add(cte.alias.lower())
            kept.append(cte)
    return list(reversed(kept)), recursive


def visible_ctes(select: exp.Expr) -> exp.With | None:
    """The CTEs ``select`` can read (as copies): every enclosing WITH, but within the WITH that
    defines ``select``'s own CTE only the CTEs before it. Inner definitions shadow outer ones."""
    ctes, recursive = visible(select)
    if not ctes:
        return None
    return exp.With(expressions=[c.copy() for c in ctes], recursive=recursive or None)


def _tables(e: exp.Expr) -> set[str]:
    return {t.name.lower() for t in e.find_all(exp.Table) if not t.args.get("db")}


def read_ctes(ctes: list[exp.CTE], body: exp.Expr) -> list[exp.CTE]:
    """The CTEs among ``ctes`` that ``body`` reads, directly or through each other."""
    needed = _tables(body)
    kept = []
    for cte in reversed(ctes):
        if cte.alias.lower() in needed:
            kept.append(cte)
            needed |= _tables(cte.this)
    return list(reversed(kept))


def prune_ctes(query: exp.Query) -> exp.Query:
    """Drop the CTEs ``query`` does not read (directly or through other CTEs), so a fragment
    never depends on LLM results it does not use (and DuckDB binds no more than needed)."""
    with_ = query.args.get("with_")
    if not isinstance(with_, exp.With):
        return query
    query.set("with_", None)  # detached while reading the body: no copy needed
    kept = read_ctes(list(with_.expressions), query)
    query.set("with_", exp.With(expressions=kept, recursive=with_.args.get("recursive"))
              if kept else None)
    return query
