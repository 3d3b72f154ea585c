"""Which LLM filter chains may run adaptively, and the one query that feeds such a chain
(decided once, at physical planning).

The optimizer orders the filters of one WHERE (``LlmNode.filter_chain``) with a guessed
selectivity and rechains their inputs so each sees the earlier verdicts. The runtime can do
better by learning pass rates as rows flow (:mod:`heliumsql.workflow.adaptive_chain`), but then
a member answers only the prompts of rows that reached it, and any other lookup must answer
the *rejecting* value (False, or True under ``NOT``) instead of computing it on demand. That is
sound only where a member's answer is read inside the chain's own conjunction:

- the statement has exactly one SELECT (``S``) whose WHERE holds every member as a top-level
  conjunct; every call of a member in the statement is evaluated by ``S`` (WHERE, SELECT list,
  HAVING, ORDER BY: after the WHERE), never in its FROM/JOIN, with the same prompt expression;
- any other node's input reads a member only in a SELECT with ``S``'s FROM and every one of
  ``S``'s WHERE conjuncts (a copy of the chain), with the same prompt expression;
- the members' inputs are one query (``S``'s FROM and a subset of its LLM-free conjuncts) up
  to the prompt column and the verdicts of other members, and no member stops under a LIMIT.

A row of ``S`` whose member prompt was never computed then either failed the shared LLM-free
conjuncts (not in the chain's input) or was rejected by another member whose verdict is known:
the conjunction is not true either way. Anything else keeps the static chain.

>>> import heliumsql, sqlglot
>>> from heliumsql.executor import Executor
>>> con = heliumsql.connect(result_cache=None)
>>> _ = con.sql("CREATE TABLE r AS SELECT 'great' AS review")
>>> sql = ("SELECT review FROM r WHERE llm_filter('Long? {review}') "
...        "AND llm_filter('Kind? {review}')")
>>> plan = Executor(con.duckdb, lambda: None).plan(sqlglot.parse_one(sql, read="helium"))
>>> [chain.members for chain in adaptive_chains(plan.logical)]
[(1, 2)]
"""

from __future__ import annotations

from sqlglot import exp

from heliumsql.plan.names import chain_prompt_column, map_tables, node_id, udf_calls, verdict
from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.plan.physical.plan import ChainPlan
from heliumsql.scopes import conjuncts


def _source_sql(select: exp.Select) -> str:
    joins = select.args.get("joins") or []
    return " ".join(part.sql("duckdb") for part in [select.args.get("from_"), *joins] if part)


def _evaluated_after_where(call: exp.Expr, select: exp.Select) -> bool:
    """Whether ``call``'s nearest SELECT is ``select`` and it is not in its FROM/JOIN."""
    child, node = call, call.parent
    while node is not None and node is not select:
        if isinstance(node, exp.Query):
            return False
        child, node = node, node.parent
    return node is select and child.arg_key not in ("from_", "joins", "with_")


def _argument(call: exp.Anonymous) -> str:
    return call.expressions[0].sql("duckdb") if call.expressions else ""


def _where_texts(select: exp.Select) -> set[str]:
    where = select.args.get("where")
    return {c.sql("duckdb") for c in conjuncts(where.this)} if where is not None else set()


def _chain_select(statement: exp.Expr, members: set[int]
                  ) -> tuple[exp.Select, dict[int, exp.Anonymous], frozenset[int]] | None:
    found = []
    for select in statement.find_all(exp.Select):
        where = select.args.get("where")
        if where is None:
            continue
        calls: dict[int, exp.Anonymous] = {}
        negated = set()
        for predicate in conjuncts(where.this):
            member, neg = verdict(predicate)
            if member in members and member not in calls:
                inner = predicate.this if neg else predicate
                calls[member] = inner.this if isinstance(inner, exp.Paren) else inner
                if neg:
                    negated.add(member)
        if set(calls) == members:
            found.append((select, calls, frozenset(negated)))
    return found[0] if len(found) == 1 else None


def _reads_soundly(tree: exp.Expr, members: set[int], scope: exp.Select, args: dict[int, str],
                   own: bool) -> bool:
    """Every member call in ``tree`` is read after a WHERE holding the whole chain."""
    needed, source = _where_texts(scope), _source_sql(scope)
    for call in udf_calls(tree):
        member = node_id(call)
        if member not in members:
            continue
        if _argument(call) != args[member]:
            return False
        select = call.find_ancestor(exp.Select)
        if own:
            if not _evaluated_after_where(call, scope):
                return False
        elif (select is None or not _evaluated_after_where(call, select)
              or _source_sql(select) != source or not needed <= _where_texts(select)):
            return False
    return True


def _base(node: LlmNode, members: set[int]) -> exp.Select | None:
    """``node``'s input without its prompt column and without other members' verdicts."""
    source = node.input
    if not isinstance(source, exp.Select) or len(source.expressions) != 1:
        return None
    if source.expressions[0].alias_or_name != "prompt":
        return None
    if any(source.args.get(k) for k in ("limit", "offset", "fetch", "group", "having",
                                        "qualify", "distinct", "order")):
        return None
    base = source.copy()
    where = base.args.get("where")
    kept = [c for c in conjuncts(where.this) if verdict(c)[0] not in members] if where else []
    base.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    if udf_calls(base) or map_tables(base):
        return None  # reads other LLM answers: keep the static chain
    return base


def _spec(plan: LogicalPlan, chain: tuple[int, ...]) -> ChainPlan | None:
    members = set(chain)
    nodes = {n.id: n for n in plan.nodes}
    if not members <= set(nodes) or len(members) < 2:
        return None
    for i in chain:
        node = nodes[i]
        if node.call.kind != "filter" or node.limit is not None or node.filter_chain != chain:
            return None
    found = _chain_select(plan.statement, members)
    if found is None:
        return None
    scope, calls, negated = found
    args = {i: _argument(c) for i, c in calls.items()}
    if not _reads_soundly(plan.statement, members, scope, args, own=True):
        return None
    for node in plan.nodes:
        if node.id not in members and node.input is not None and \
                not _reads_soundly(node.input, members, scope, args, own=False):
            return None
    bases = [_base(nodes[i], members) for i in chain]
    if any(b is None for b in bases):
        return None
    texts = set()
    for base in bases:
        shell = base.copy()
        shell.set("expressions", [exp.Star()])
        texts.add(shell.sql("duckdb"))
    first = bases[0]
    if len(texts) != 1 or _source_sql(first) != _source_sql(scope) \
            or not _where_texts(first) <= _where_texts(scope):
        return None
    for cte in (first.args.get("with_").expressions if first.args.get("with_") else []):
        same = [c for c in plan.statement.find_all(exp.CTE) if c.alias == cte.alias]
        if not same or any(c.sql("duckdb") != cte.sql("duckdb") for c in same):
            return None  # the chain's input would not read the statement's CTE
    query = first.copy()
    query.set("expressions", [
        exp.alias_(nodes[i].input.expressions[0].unalias().copy(), chain_prompt_column(i))
        for i in chain])
    return ChainPlan(chain, negated, query.sql("duckdb"))


def adaptive_chains(plan: LogicalPlan) -> list[ChainPlan]:
    """The filter chains of ``plan`` that may run adaptively (see the module docstring)."""
    chains = list(dict.fromkeys(n.filter_chain for n in plan.nodes if n.filter_chain))
    specs = [_spec(plan, chain) for chain in chains]
    out = [s for s in specs if s is not None]
    claimed = [i for s in out for i in s.members]
    return out if len(claimed) == len(set(claimed)) else []
