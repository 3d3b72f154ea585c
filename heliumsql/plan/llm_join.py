"""An LLM predicate in ``JOIN ... ON``: the pairs it is asked about, decided at plan time.

``a JOIN b ON a.k = b.k AND llm_filter('Does {a.x} fit {b.y}?')`` asks the model about a pair
of rows only where the rest of the ON clause holds: DuckDB evaluates a conjunction with
selection vectors, so a later conjunct never sees a pair an earlier one rejected, and it
orders the cheap relational conjuncts before a UDF call. The call's input is therefore the
*candidate pairs*: the join's sources joined (inner) on the ON conjuncts free of unplanned LLM
calls. That holds for every join kind that evaluates its condition pair by pair (INNER, LEFT,
RIGHT, FULL): an outer join only adds the unmatched rows, NULL-extended, which no prompt
reads. For an inner join whose earlier joins are inner too, the LLM-free WHERE conjuncts
narrow the pairs as well (a pair they reject is not in the result whatever the model says);
for an outer join they may not (a WHERE over the NULL-extended side would reject pairs whose
rows the join still needs).

Nothing here changes which rows the statement returns: the statement still evaluates the call
in its ON clause through the node's UDF, which answers a pair outside the candidates on demand
(except under the opt-in ``strategy => 'candidates', k => N``, where a pair outside the top N is
not a match: see :mod:`heliumsql.plan.join_candidates`).
The plan only decides which prompts are ready before the statement runs, and in what order
(see :mod:`heliumsql.plan.physical`: the prompt tree issues them depth first, so every pair of
the row whose text comes first in the template shares that row's KV prefix).

>>> from heliumsql.testing import logical_plan
>>> plan, _ = logical_plan("SELECT r.id FROM r JOIN c ON r.k = c.k AND "
...                        "llm_filter('Does {r.x} fit {c.y}?')",
...                        "CREATE TABLE r(id INT, k INT, x VARCHAR); "
...                        "CREATE TABLE c(k INT, y VARCHAR)")
>>> join = plan.nodes[0].join
>>> join.kind, join.left, join.right, join.first, join.conjuncts
('inner', ('r',), 'c', 'r', ('r.k = c.k',))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from heliumsql.grammar.dialect import display_sql
from heliumsql.grammar.functions import JOIN_STRATEGIES
from heliumsql.plan.names import node_id
from heliumsql.scopes import conjuncts, has_llm, prune_ctes

# The join kinds whose condition is evaluated pair by pair (semi, anti, asof and positional
# joins are not, or not only): ``Join.side`` values, with ``Join.kind`` plain, INNER or OUTER.
JOIN_SIDES = {"": "inner", "LEFT": "left", "RIGHT": "right", "FULL": "full"}
# A strategy is named by ``strategy =>`` (grammar/functions.py lists the names), shapes the
# candidate-pairs input here and picks the operator (heliumsql.operators.operator_class).
# The approximate ``candidates`` (the k most similar right rows per left row, by embedding
# cosine) adds each side's text to the input; its operator ranks and cuts the pairs (see
# heliumsql.plan.join_candidates).
NESTED_LOOP, CLASSIFY, CANDIDATES = JOIN_STRATEGIES


@dataclass(frozen=True)
class JoinSpec:
    """One LLM join: the join ``kind``, the aliases of the sources before it (``left``) and of
    the source it joins (``right``), the alias the template reads first (its rows are the
    shared prefixes; '' when the prompt reads no column), the relational ON (and WHERE)
    conjuncts applied to the pairs before any prompt, the ``strategy``, and ``pairs``: the
    query counting the pairs a join without those conjuncts would consider (EXPLAIN ANALYZE);
    ``k`` the right rows judged per left row under ``strategy => 'candidates'``."""

    kind: str
    left: tuple[str, ...]
    right: str
    first: str
    conjuncts: tuple[str, ...]
    pairs: exp.Select
    strategy: str = NESTED_LOOP
    k: int | None = None

    def describe(self) -> str:
        """The strategy line of EXPLAIN.

        >>> print(JoinSpec("left", ("r",), "c", "r", ("r.k = c.k",), exp.select("1")).describe())
        nested loop, prefix-shared: left join of r and c, each distinct pair once after
        r.k = c.k, pairs of one r row together (its text is the shared prefix)
        """
        pruned = f"after {' AND '.join(self.conjuncts)}" if self.conjuncts else \
            "(no relational conjunct: every pair)"
        if self.strategy == CLASSIFY:
            return (f"classify: {self.kind} join of {', '.join(self.left)} and {self.right}, one "
                    f"multi-label prompt per distinct {', '.join(self.left)} row listing the "
                    f"distinct {self.right} values of its candidate pairs {pruned} as options "
                    "(opt-in: a different question than one yes/no per pair)")
        if self.strategy == CANDIDATES:
            return (f"candidates: top {self.k} of the {self.right} side per distinct "
                    f"{', '.join(self.left)} text by embedding cosine, {self.kind} join of "
                    f"{', '.join(self.left)} and {self.right} {pruned}, each kept pair asked once, "
                    "the rest are not matches (opt-in, approximate)")
        head = (f"{self.kind} join of {', '.join(self.left)} and {self.right}, each distinct pair "
                f"once {pruned}")
        if not self.first:
            return f"nested loop: {head}"
        return (f"nested loop, prefix-shared: {head}, pairs of one {self.first} row together "
                "(its text is the shared prefix)")


def _join_of(call: exp.Expr, scope: exp.Select) -> tuple[int, exp.Join] | None:
    """The index and node of the JOIN whose ON clause holds ``call`` (None elsewhere)."""
    child, node = call, call.parent
    while node is not None and node is not scope:
        if isinstance(node, exp.Join):
            joins = scope.args.get("joins") or []
            inside = child.arg_key == "on"
            index = next((i for i, j in enumerate(joins) if j is node), None)
            return (index, node) if inside and index is not None else None
        child, node = node, node.parent
    return None


def owners(column: exp.Column, aliases: list[str], columns: dict[str, tuple[str, ...]]
           ) -> set[str]:
    """The (lower-case) aliases among ``aliases`` a column may belong to: its qualifier, or
    every source with a column of its name (``columns``: alias -> column names)."""
    if column.table:
        return {column.table.lower()}
    name = column.name.lower()
    return {a.lower() for a in aliases if name in (c.lower() for c in columns.get(a.lower(), ()))}


def _first_alias(prompt: exp.Expr, aliases: list[str], columns: dict[str, tuple[str, ...]]) -> str:
    """The source alias of the first column the prompt reads ('' if none or unknown)."""
    for column in prompt.find_all(exp.Column):
        found = owners(column, aliases, columns)
        return next((a for a in aliases if {a.lower()} == found), "")
    return ""


def _shown(conjunct: exp.Expr) -> str:
    """A conjunct as EXPLAIN shows it: another node's answer as ``__helium_<id>(...)``."""
    def elide(e: exp.Expr) -> exp.Expr:
        if node_id(e) is not None:
            return exp.Anonymous(this=e.name, expressions=[exp.var("...")])
        return e

    return display_sql(conjunct.copy().transform(elide))


def _reads_only(conjunct: exp.Expr, kept: list[str], aliases: list[str],
                columns: dict[str, tuple[str, ...]]) -> bool:
    """Whether every column ``conjunct`` reads belongs to a source in ``kept`` (and it reads
    no subquery, whose columns could come from anywhere)."""
    if not kept or conjunct.find(exp.Query):
        return False
    wanted = {a.lower() for a in kept}
    return all((found := owners(c, aliases, columns)) and found <= wanted
               for c in conjunct.find_all(exp.Column))


def _count(from_: exp.Expr, joins: list[exp.Join], with_: exp.With | None) -> exp.Select:
    q = exp.select(exp.func("count_star")).from_(from_.copy())
    if joins:
        q.set("joins", [j.copy() for j in joins])
    if with_ is not None:
        q.set("with_", with_.copy())
        prune_ctes(q)
    return q


def join_candidates(call: exp.Expr, scope: exp.Select, prompt: exp.Expr,
                    with_: exp.With | None, columns: dict[str, tuple[str, ...]],
                    binds: Callable[[exp.Select], bool], strategy: str = NESTED_LOOP,
                    k: int | None = None) -> tuple[exp.Select, JoinSpec] | None:
    """For a call in the ON clause of one of ``scope``'s joins: the candidate-pairs input
    (``SELECT prompt FROM ... JOIN ... ON <relational conjuncts> [WHERE ...]``) and the join's
    spec; None where the join does not evaluate its condition pair by pair, or the input does
    not bind. ``columns`` maps each source alias (lower case) to its columns; ``binds`` says
    whether DuckDB binds a query (a WHERE conjunct over a later join's source does not bind on
    the join's own sources: then no WHERE conjunct narrows the pairs)."""
    found = _join_of(call, scope)
    from_ = scope.args.get("from_")
    if found is None or from_ is None:
        return None
    index, join = found
    side = (join.side or "").upper()
    if side not in JOIN_SIDES or (join.kind or "").upper() not in ("", "INNER", "OUTER") \
            or join.args.get("using") or join.args.get("method"):
        return None
    joins = scope.args.get("joins") or []
    sources = [from_.this] + [j.this for j in joins[:index + 1]]
    aliases = [s.alias_or_name for s in sources]
    if not all(aliases):
        return None
    on = join.args.get("on")
    kept = [c for c in conjuncts(on) if not has_llm(c)] if on is not None else []
    target = join.copy()
    target.set("side", None)
    target.set("kind", None if kept else "CROSS")
    target.set("on", exp.and_(*[c.copy() for c in kept]) if kept else None)
    q = exp.Select(expressions=[exp.alias_(prompt.copy(), "prompt")]).from_(from_.copy())
    q.set("joins", [j.copy() for j in joins[:index]] + [target])
    if with_ is not None:
        q.set("with_", with_.copy())
    where = scope.args.get("where")
    narrowing = [c for c in conjuncts(where.this) if not has_llm(c)] if where is not None else []
    if any(j.side or (j.kind or "").upper() not in ("", "INNER", "CROSS") for j in joins[:index]):
        narrowing = []
    else:
        # An outer join keeps its preserved side's rows: a WHERE conjunct over that side only
        # rejects every output row of a rejected row, matched or not; others may not narrow.
        # (Conjuncts over a later join's sources cannot run on the pairs at all.)
        kept_side = {"": aliases, "LEFT": aliases[:-1], "RIGHT": aliases[-1:]}.get(side, [])
        narrowing = [c for c in narrowing if _reads_only(c, kept_side, aliases, columns)]
    if narrowing:
        narrowed = q.copy().where(*[c.copy() for c in narrowing], copy=False)
        if binds(prune_ctes(narrowed)):
            q = narrowed
        else:
            narrowing = []
    if not narrowing:
        q = prune_ctes(q)
        if not binds(q):
            return None
    pairs = exp.select(exp.Mul(this=exp.Subquery(this=_count(from_.this, joins[:index], with_)),
                               expression=exp.Subquery(this=_count(join.this, [], with_))))
    spec = JoinSpec(JOIN_SIDES[side], tuple(aliases[:-1]), aliases[-1],
                    _first_alias(prompt, aliases, columns),
                    tuple(_shown(c) for c in kept + narrowing), pairs, strategy, k)
    return q, spec
