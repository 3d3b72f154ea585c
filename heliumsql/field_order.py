"""The order of a record-style call's fields (``llm('question', col_a, col_b)``) when the user
asks for it with ``reorder => true`` (or ``SET helium_reorder_fields = true``).

The fields are rendered in the order written, because their order is part of the prompt and so
of the answer. With ``reorder => true`` the user lets HeliumSQL choose the order that makes the
most rows share a prompt prefix; the choice is made here, while planning, from the call's input
rows alone, so it is the same whether the optimizer is on or off (optimization never changes a
result), and the same on every run over the same data.

The order is the greedy group recursion of Liu et al. ("Optimizing LLM Queries in Relational
Workloads", MLSys 2025) with one field order per call: the next field is the one whose values,
following the fields already chosen, save the most prompt characters,
``avg_length(f) * (rows - distinct(chosen + f))``. The figures come from a deterministic sample
of at most ``SAMPLE_ROWS`` input rows (ordered by a hash of their values, not by scan order,
which varies with DuckDB's threads). WHERE conjuncts that need LLM answers are left out of the
sample (it covers a superset of the rows); the declared order stays when a field is another
call's answer, for grouped input (sampling groups costs the whole aggregation), and when the
call has no precomputed input (its prompts are computed on demand).

>>> greedy_order([("q", "long unique text A", "x"), ("q", "long unique text B", "x")])
[1, 0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import duckdb
from sqlglot import exp

from heliumsql.binder import render_prompt, text_of
from heliumsql.grammar.functions import CallArguments

SAMPLE_ROWS = 1024


def greedy_order(rows: list[tuple[str, ...]]) -> list[int]:
    """Field positions in greedy order for ``rows`` of (head, field 0, field 1, ...) texts: next
    comes the field that saves the most characters, length × rows whose values so far repeat
    an earlier row's (ties: the field declared first).

    >>> greedy_order([("q", "a", "long repeated"), ("q", "b", "long repeated")])
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


def _sample(args: CallArguments, fragment: exp.Select,
            reads_answers: Callable[[exp.Expr], bool]) -> str | None:
    """SQL of the sample: the prompt without its fields as column h, field i's text as f<i>."""
    if fragment.args.get("group") is not None or fragment.args.get("having") is not None:
        return None
    q = fragment.copy()
    where = q.args.get("where")
    if where is not None:
        kept = [c for c in where.this.flatten() if not reads_answers(c)]
        q.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    head = render_prompt(replace(args, context=()))
    q.set("expressions", [exp.alias_(exp.func("COALESCE", head, exp.Literal.string("")), "h")] +
          [exp.alias_(text_of(v), f"f{i}") for i, (_, v) in enumerate(args.context)])
    if reads_answers(q):
        return None
    columns = ["h"] + [f"f{i}" for i in range(len(args.context))]
    return (f"SELECT * FROM ({q.sql('duckdb')}) ORDER BY hash({', '.join(columns)}), "
            f"{', '.join(columns)} LIMIT {SAMPLE_ROWS}")


def order_fields(args: CallArguments, prompt: exp.Expr, fragment: exp.Select,
                 con: duckdb.DuckDBPyConnection, reads_answers: Callable[[exp.Expr], bool]
                 ) -> tuple[CallArguments, exp.Expr, exp.Select, tuple[str, ...]]:
    """(args, prompt, fragment, declared field names) with the fields in greedy order; the
    inputs unchanged (and no declared names) when the order stays. ``fragment`` is the call's
    input query (its first column the prompt); ``reads_answers`` says whether an expression
    reads another LLM call's answers."""
    unchanged = (args, prompt, fragment, ())
    if len(args.context) < 2:
        return unchanged
    sample = _sample(args, fragment, reads_answers)
    if sample is None:
        return unchanged
    try:
        rows = con.sql(sample).fetchall()
    except duckdb.Error:
        return unchanged
    order = greedy_order([tuple("" if v is None else str(v) for v in r) for r in rows])
    if not rows or order == list(range(len(args.context))):
        return unchanged
    ordered = replace(args, context=tuple(args.context[i] for i in order))
    new_prompt = render_prompt(ordered)
    new_fragment = fragment.copy()
    new_fragment.expressions[0].set("this", new_prompt.copy())
    return ordered, new_prompt, new_fragment, tuple(name for name, _ in args.context)
