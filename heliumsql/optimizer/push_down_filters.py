"""Relational predicates run before the LLM calls they do not depend on; several LLM filters of
one WHERE run cheapest first, each seeing only the rows every earlier one kept.

1. The planner already gives each call the LLM-free WHERE conjuncts of its own SELECT. A
   predicate of an outer query over a CTE or subquery column that is not an LLM answer moves
   into that CTE/subquery (and into every node input that carries a copy of it), so the calls
   inside only see the rows the outer query keeps; over ``llm_map``'s rows it narrows the
   map's input. Only where that cannot change the answer: inner joins, a CTE read once, a
   target without LIMIT, grouping, aggregates or window functions, deterministic predicates;
   and if the moved statement no longer binds (a name that was a correlated reference), none
   of it moves.
2. ``WHERE llm_filter(a) AND llm_filter(b)``: each filter's input holds the verdicts of the
   filters before it, so a row one rejects never reaches the next. The chain is ordered by
   ``cost / (1 - selectivity)`` (the classic order for independent predicates), with ``cost``
   the estimated prompt tokens per row (template text, plus the sampled length of its values
   when statistics are available) and ``selectivity`` 0.5 until the runtime learns better.

>>> from heliumsql.testing import logical_plan
>>> from heliumsql.optimizer import RuleContext, optimize
>>> SCHEMA = "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)"
>>> plan, con = logical_plan("WITH t AS (SELECT id, stars, llm('{review}') AS s FROM reviews) "
...                          "SELECT * FROM t WHERE stars > 3", SCHEMA)
>>> optimize(plan, RuleContext(con), (push_down_filters,)).nodes[0].input.sql("duckdb")
"SELECT CONCAT(COALESCE(CAST(review AS TEXT), '')) AS prompt FROM reviews WHERE stars > 3"
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlglot import exp

from heliumsql.grammar.dialect import display_sql
from heliumsql.optimizer.cost import (
    DEFAULT_SELECTIVITY,
    estimate_prompt_tokens,
    sampled_prompt_chars,
)
from heliumsql.optimizer.rewrite import (
    defining_query,
    map_table_id,
    node_id,
    note,
    refresh_copies,
    toposort,
    udf_calls,
    with_input,
)
from heliumsql.plan.names import verdict
from heliumsql.plan.nodes import LogicalPlan
from heliumsql.scopes import conjuncts, scope_of

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "push_down_filters"
_UNSAFE = (exp.Query, exp.AggFunc, exp.Window, exp.Anonymous, exp.Rand, exp.Randn, exp.Randstr,
           exp.Uuid, exp.Explode, exp.Unnest)


# -- 1. predicates into CTEs, subqueries and llm_map inputs ---------------------------------------

def _and(parts: list[exp.Expr]) -> exp.Expr | None:
    return exp.and_(*parts) if parts else None


def _inner_sources(select: exp.Select) -> dict[str, exp.Expr] | None:
    """alias -> FROM/JOIN source, if every join is inner (a predicate over one side of an
    outer join may not move into it)."""
    from_ = select.args.get("from_")
    if from_ is None:
        return None
    sources = [from_.this]
    for join in select.args.get("joins") or []:
        if join.side or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
            return None
        sources.append(join.this)
    out = {}
    for source in sources:
        alias = source.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            return None  # renamed columns bind by position
        out[source.alias_or_name.lower()] = source
    return out


def _safe_target(select: exp.Expr) -> bool:
    if not isinstance(select, exp.Select):
        return False
    if any(select.args.get(k) for k in ("limit", "offset", "fetch", "group", "having", "qualify")):
        return False
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        return False
    return not any(p.find(exp.AggFunc, exp.Window, exp.Explode, exp.Unnest)
                   for p in select.expressions)


def _column_source(select: exp.Select, name: str) -> exp.Expr | None:
    """The expression ``select`` outputs as column ``name``, or None."""
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                and isinstance(projection.this, exp.Star)):
            continue
        if projection.alias_or_name.lower() == name:
            return projection.unalias()
    stars = [p for p in select.expressions if isinstance(p, exp.Star)]
    if stars and not select.args.get("joins") and not any(s.args for s in stars):
        return exp.column(name)  # passes through from the single source (no EXCEPT/REPLACE)
    return None


def _rewrite_for(target: exp.Select, predicate: exp.Expr) -> exp.Expr | None:
    """``predicate`` over ``target``'s output columns, restated over its inputs."""
    mapped: dict[str, exp.Expr] = {}
    for column in predicate.find_all(exp.Column):
        source = _column_source(target, column.name.lower())
        if source is None or udf_calls(source) or source.find(*_UNSAFE):
            return None  # unknown, an LLM answer, or not a plain row-wise value
        mapped[column.name.lower()] = source

    def swap(e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Column):
            value = mapped[e.name.lower()].copy()
            return value if isinstance(value, (exp.Column, exp.Literal)) else exp.paren(value)
        return e

    return predicate.copy().transform(swap, copy=False)


def _pushable(predicate: exp.Expr, sources: dict[str, exp.Expr]) -> str | None:
    """The alias of the one source ``predicate`` reads, if it may move at all."""
    if predicate.find(*_UNSAFE):
        return None
    columns = list(predicate.find_all(exp.Column))
    if not columns:
        return None
    tables = {c.table.lower() for c in columns}
    if tables == {""} and len(sources) == 1:
        return next(iter(sources))
    if len(tables) == 1 and "" not in tables and next(iter(tables)) in sources:
        return next(iter(tables))
    return None


@dataclass
class _Pushes:
    """Bookkeeping of one pass: each changed target's text before the first change, the
    predicates it gained (in its own terms), and predicates for llm_map inputs."""

    before: dict[int, tuple[str, str]] = field(default_factory=dict)  # (alias, old SQL)
    targets: dict[int, exp.Select] = field(default_factory=dict)
    added: dict[int, list[exp.Expr]] = field(default_factory=dict)
    maps: dict[int, list[exp.Expr]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _push_once(statement: exp.Expr, plan: LogicalPlan, pushes: _Pushes) -> bool:
    for select in list(statement.find_all(exp.Select)):
        where = select.args.get("where")
        sources = _inner_sources(select) if where is not None else None
        if not sources:
            continue
        kept, moved = [], False
        for predicate in conjuncts(where.this):
            alias = _pushable(predicate, sources)
            source = sources.get(alias) if alias else None
            if source is not None and _push(statement, select, source, predicate, plan, pushes):
                moved = True
                continue
            kept.append(predicate)
        if moved:
            rest = _and(kept)
            select.set("where", exp.Where(this=rest) if rest is not None else None)
            return True
    return False


def _push(statement: exp.Expr, select: exp.Select, source: exp.Expr, predicate: exp.Expr,
          plan: LogicalPlan, pushes: _Pushes) -> bool:
    """Move ``predicate`` into ``source``; True if it left ``select``'s WHERE."""
    if (map_id := map_table_id(source)) is not None:
        node = plan.node(map_id)
        if node.call.kind != "table":
            return False  # llm_search's top k over fewer rows would be other rows
        names = {c.name.lower() for c in predicate.find_all(exp.Column)}
        unqualified = predicate.copy().transform(
            lambda e: exp.column(e.name) if isinstance(e, exp.Column) else e, copy=False)
        done = pushes.maps.setdefault(node.id, [])
        if (node.output or "").lower() not in names and "sample" not in names and \
                unqualified not in done:
            done.append(unqualified)
            pushes.notes.append(f"pushed {display_sql(unqualified)} into the input of #{node.id}")
        return False  # the map's table then only has those rows; the outer filter stays
    found = defining_query(statement, select, source)
    if found is None or not _safe_target(found[0]):
        return False
    target, name, label = found
    restated = _rewrite_for(target, predicate)
    if restated is None:
        return False
    key = id(target)
    pushes.before.setdefault(key, (name, target.sql("duckdb")))
    pushes.targets[key] = target
    # The predicate left this SELECT: if an earlier push had put it here, it is not added here
    # any more.
    if id(select) in pushes.added:
        pushes.added[id(select)] = [p for p in pushes.added[id(select)] if p != predicate]
    pushes.added.setdefault(key, []).append(restated)
    target.where(restated, copy=False)
    pushes.notes.append(f"pushed {display_sql(restated)} into {label}")
    return True


def _candidates(statement: exp.Expr) -> bool:
    """Whether some WHERE has a predicate over a CTE, subquery or llm_map (cheap, no copy)."""
    ctes = {c.alias.lower() for c in statement.find_all(exp.CTE)}
    for select in statement.find_all(exp.Select):
        where = select.args.get("where")
        sources = _inner_sources(select) if where is not None else None
        for predicate in conjuncts(where.this) if sources else ():
            source = sources.get(_pushable(predicate, sources) or "")
            if isinstance(source, exp.Subquery) or map_table_id(source) is not None or (
                    isinstance(source, exp.Table) and source.name.lower() in ctes):
                return True
    return False


def _push_predicates(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    if not _candidates(plan.statement):
        return plan
    statement = plan.statement.copy()
    pushes = _Pushes()
    for _ in range(64):  # each pass moves one predicate one level down; queries are shallow
        if not _push_once(statement, plan, pushes):
            break
    if not pushes.notes:
        return plan
    if pushes.targets and ctx.con is not None and not ctx.binds(statement):
        # A name that passed through a star was not the inner query's column after all
        # (a correlated reference): keep the statement as the user wrote it.
        return plan
    nodes = []
    for node in plan.nodes:
        source = node.input
        if source is not None:
            source = refresh_copies(source, [(name, text, pushes.targets[key])
                                             for key, (name, text) in pushes.before.items()])
            calls = udf_calls(statement, node.id)
            scope = scope_of(calls[0])[0] if len(calls) == 1 else None
            extra = pushes.added.get(id(scope), []) if scope is not None else []
            extra = extra + pushes.maps.get(node.id, [])
            if extra:
                source = source.copy() if source is node.input else source
                source.where(*[p.copy() for p in extra], copy=False)
        nodes.append(with_input(node, source))
    plan = replace(plan, statement=statement, nodes=tuple(nodes))
    for text in pushes.notes:
        plan = note(plan, _RULE, text)
    return plan


# -- 2. LLM filter chains, cheapest first --------------------------------------------------------

def _chains(plan: LogicalPlan) -> list[tuple[exp.Select, list[int]]]:
    filters = {n.id for n in plan.nodes if n.call.kind == "filter" and n.input is not None}
    found = []
    for select in plan.statement.find_all(exp.Select):
        where = select.args.get("where")
        if where is None:
            continue
        members = [i for c in conjuncts(where.this) if (i := verdict(c)[0]) in filters]
        if len(members) >= 2 and len(set(members)) == len(members):
            found.append((select, members))
    return found


def _rechain(source: exp.Query, members: set[int], before: list[exp.Expr]) -> exp.Query:
    """``source`` reading exactly the verdicts in ``before`` among the chain's ``members``."""
    new = source.copy()
    where = new.args.get("where")
    kept = [c for c in conjuncts(where.this) if verdict(c)[0] not in members] if where else []
    rest = _and(kept + [p.copy() for p in before])
    new.set("where", exp.Where(this=rest) if rest is not None else None)
    return new


def _order_chains(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    chains = _chains(plan)
    if not chains:
        return plan
    statement = plan.statement.copy()
    nodes = {n.id: n for n in plan.nodes}
    position = {n.id: i for i, n in enumerate(plan.nodes)}
    for select, members in chains:
        chain = [nodes[i] for i in members]
        sampled = sampled_prompt_chars(chain, ctx)
        cost = {n.id: estimate_prompt_tokens(n, sampled.get(n.id)) for n in chain}
        rank = {i: cost[i] / (1 - DEFAULT_SELECTIVITY) for i in members}
        order = sorted(members, key=lambda i: (rank[i], members.index(i)))
        where = select.args["where"]
        predicates = {verdict(c)[0]: c for c in conjuncts(where.this)}
        for k, i in enumerate(order):
            node = replace(nodes[i], cost=cost[i], selectivity=DEFAULT_SELECTIVITY,
                           filter_chain=tuple(order))
            if order != members:
                node = with_input(node, _rechain(node.input, set(members),
                                                 [predicates[j] for j in order[:k]]))
            nodes[i] = node
        slots = sorted(position[i] for i in members)
        for slot, i in zip(slots, order):
            position[i] = slot
        figures = ", ".join(f"#{i} ~{cost[i]:g} tokens/row" for i in order)
        if order != members:
            _reorder_where(statement, select, order, members)
            plan = note(plan, _RULE, f"LLM filters cheapest first: {figures}")
        else:
            plan = note(plan, _RULE, f"LLM filters already cheapest first: {figures}")
    ordered = toposort(nodes.values(), rank=lambda n: position[n.id])
    if ordered is None:
        return plan
    return replace(plan, nodes=tuple(ordered), statement=statement)


def _reorder_where(statement: exp.Expr, original: exp.Select, order: list[int],
                   members: list[int]) -> None:
    """Rewrite the chain's WHERE in ``statement`` (a copy holding ``original``) in ``order``."""
    text = original.sql("duckdb")
    select = next(s for s in statement.find_all(exp.Select) if s.sql("duckdb") == text)
    parts = conjuncts(select.args["where"].this)
    verdicts = {verdict(c)[0]: c for c in parts}
    queue = [verdicts[i] for i in order]
    rebuilt = [queue.pop(0) if verdict(c)[0] in members else c for c in parts]
    select.set("where", exp.Where(this=_and([c.copy() for c in rebuilt])))


def push_down_filters(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Move outer predicates into the CTEs/subqueries/maps they filter, then order each
    WHERE's LLM filters cheapest first."""
    if not plan.nodes:
        return plan
    return _order_chains(_push_predicates(plan, ctx), ctx)
