"""Record-style calls (``llm('question', col_a, col_b)``): long, frequently repeated field
values go first, so more rows share a prompt prefix; rows are then issued in prompt order.

The fields of a record-style call are a set (documented semantics), so their order is the
optimizer's to choose. This is the greedy group recursion of Liu et al. ("Optimizing LLM
Queries in Relational Workloads", MLSys 2025) with one field order per call rather than one
per row group: the next field is the one whose values, following the fields already chosen,
save the most prompt characters, ``avg_length(f) * (rows - distinct(chosen + f))`` (a row
whose values so far equal an earlier row's reuses that row's prefix). The figures come from
at most ``ctx.sample_rows`` of the call's input rows (one DuckDB query, LLM filters before the
call left out); without a connection, when a field is another call's answer (unknown at plan
time), or for grouped input (sampling groups costs the whole aggregation), the declared order
stays.

The question (the template) stays first: it is usually the same for every row. Rows are
issued in sorted prompt order (``sort_prompts``) so that equal prefixes are adjacent, except
for a filter that stops early under LIMIT, whose rows must go in its input's order.

>>> # llm('Summarize', review, category) over 1000 reviews of 3 categories
>>> reorder_context_fields(plan, RuleContext(con)).nodes[0].call.fields     # doctest: +SKIP
('category', 'review')
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from heliumsql.optimizer.rewrite import note, transform_calls, udf_calls, with_input
from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.planner import PROMPT_COLUMN, conjuncts, dependencies

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "reorder_context_fields"
_PROMPT_ALIASES = ("prompt", PROMPT_COLUMN.lower())


def _field_parts(node: LlmNode) -> tuple[list[exp.Expr], list[list[exp.Expr]]] | None:
    """(the prompt parts before the fields, one [CHR(10), 'name: ', value] group per field)."""
    fields, prompt = node.call.fields, node.call.prompt
    k = len(fields)
    if k < 2 or not isinstance(prompt, exp.Concat) or len(prompt.expressions) < 3 * k:
        return None
    parts = prompt.expressions
    head, tail = parts[:len(parts) - 3 * k], parts[len(parts) - 3 * k:]
    groups = [tail[3 * i:3 * i + 3] for i in range(k)]
    for name, (newline, label, _) in zip(fields, groups):
        if not isinstance(newline, exp.Chr) or label.name != f"{name}: ":
            return None
    return head, groups


def _prompt_selects(source: exp.Query, prompt: exp.Expr) -> list[exp.Select]:
    """The SELECTs of ``source`` that render this node's prompt (several after a merge)."""
    return [s for s in source.find_all(exp.Select)
            if any(isinstance(p, exp.Alias) and p.alias.lower() in _PROMPT_ALIASES and p.this == prompt
                   for p in s.expressions)]


def _sample(node: LlmNode, head: list[exp.Expr], groups: list[list[exp.Expr]],
            ctx: "RuleContext") -> str | None:
    """SQL of a sample of the call's rows: the head's text as column h, field i's as f<i>.
    WHERE conjuncts that need LLM answers (an llm_filter before this call) are left out, so
    the sample is of a superset of the rows; values that are LLM answers cannot be sampled."""
    if ctx.con is None or node.input is None:
        return None
    selects = []
    for select in _prompt_selects(node.input, node.call.prompt):
        if select.args.get("group") or node.call.kind == "aggregate":
            return None  # a sample of groups would cost the whole aggregation
        copy = select.copy()
        where = copy.args.get("where")
        if where is not None:
            kept = [c for c in conjuncts(where.this) if not udf_calls(c)]
            copy.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
        values = [exp.alias_(exp.Concat(expressions=[p.copy() for p in head] or [exp.Literal.string("")],
                                        safe=True, coalesce=True), "h")]
        values += [exp.alias_(g[2].copy(), f"f{i}") for i, g in enumerate(groups)]
        copy.set("expressions", values)
        if dependencies(copy):
            return None
        selects.append(copy.sql("duckdb"))
    if not selects:
        return None
    return f"SELECT * FROM ({' UNION ALL '.join(selects)}) LIMIT {int(ctx.sample_rows)}"


def greedy_order(rows: list[tuple[str, ...]]) -> list[int]:
    """Field positions in greedy order for ``rows`` of (head, field 0, field 1, ...) texts: next
    comes the field that saves the most characters, length × rows whose values so far repeat
    an earlier row's.

    >>> greedy_order([("q", "long unique text A", "x"), ("q", "long unique text B", "x")])
    [1, 0]
    """
    k = len(rows[0]) - 1 if rows else 0
    if not rows or k < 2:
        return list(range(k))
    lengths = [sum(len(r[i + 1]) for r in rows) / len(rows) for i in range(k)]
    chosen: list[int] = []
    remaining = list(range(k))
    while len(remaining) > 1:
        def saved(c: int) -> tuple[float, int]:
            distinct = len({(r[0],) + tuple(r[i + 1] for i in chosen + [c]) for r in rows})
            return lengths[c] * (len(rows) - distinct), -c

        best = max(remaining, key=saved)
        chosen.append(best)
        remaining.remove(best)
    return chosen + remaining


def _sampled_order(sample: str, ctx: "RuleContext") -> list[int] | None:
    assert ctx.con is not None
    try:
        rows = ctx.con.sql(sample).fetchall()
    except duckdb.Error:
        return None
    return greedy_order([tuple("" if v is None else str(v) for v in r) for r in rows]) if rows else None


def _rewrite(plan: LogicalPlan, node: LlmNode, prompt: exp.Expr) -> LogicalPlan:
    """Every use of the node's prompt, in the statement and in every input, becomes ``prompt``."""
    old = node.call.prompt

    def call(c: exp.Anonymous) -> exp.Expr:
        return exp.Anonymous(this=c.name, expressions=[prompt.copy()])

    nodes = []
    for other in plan.nodes:
        source = transform_calls(other.input, node.id, call)
        if other.id == node.id and source is not None:
            source = source.copy() if source is other.input else source
            for select in _prompt_selects(source, old):
                for projection in select.expressions:
                    if isinstance(projection, exp.Alias) and projection.this == old:
                        projection.set("this", prompt.copy())
        nodes.append(with_input(other, source))
    return replace(plan, nodes=tuple(nodes),
                   statement=transform_calls(plan.statement, node.id, call))


def reorder_context_fields(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Order each record-style call's fields by the greedy score; mark its prompts sorted
    (not for a filter that stops early under LIMIT: it must go in its input's order)."""
    for node in plan.nodes:
        split = _field_parts(node)
        if split is None:
            continue
        head, groups = split
        sample = _sample(node, head, groups, ctx)
        order = _sampled_order(sample, ctx) if sample else None
        fields = node.call.fields
        sort = node.limit is None
        sorted_text = "; prompts sorted" if sort else ""
        if order is None or order == list(range(len(groups))):
            if sort and not node.sort_prompts:
                plan = replace(plan, nodes=tuple(replace(n, sort_prompts=True) if n.id == node.id
                                                 else n for n in plan.nodes))
                plan = note(plan, _RULE, f"#{node.id} prompts sorted; fields stay "
                                         f"{', '.join(fields)}")
            continue
        prompt = exp.Concat(expressions=[p.copy() for p in head] +
                            [p.copy() for i in order for p in groups[i]], safe=True, coalesce=True)
        plan = _rewrite(plan, node, prompt)
        new_fields = tuple(fields[i] for i in order)
        current = plan.node(node.id)
        updated = replace(current, call=replace(current.call, prompt=prompt, fields=new_fields),
                          sort_prompts=sort or current.sort_prompts, declared_fields=fields)
        plan = replace(plan, nodes=tuple(updated if n.id == node.id else n for n in plan.nodes))
        plan = note(plan, _RULE, f"#{node.id} fields ordered {', '.join(new_fields)} "
                                 f"(declared {', '.join(fields)}){sorted_text}")
    return plan
