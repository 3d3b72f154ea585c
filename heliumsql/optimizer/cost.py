"""Plan-time cost figures for LLM calls: estimated prompt tokens per row and the selectivity
assumed for a filter, used to order LLM filters (and recorded on nodes for the runtime).

Without statistics a prompt is its template's text plus ``DYNAMIC_CHARS`` per value; with a
DuckDB connection the rendered prompts of a few rows are measured instead. Characters become
tokens at ``CHARS_PER_TOKEN``: only the ratio between calls matters for ordering.

>>> import sqlglot
>>> static_chars(sqlglot.parse_one("concat('Is it good? ', coalesce(review, ''))"))
(12, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from heliumsql.plan.nodes import LlmNode

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

DEFAULT_SELECTIVITY = 0.5  # until the runtime has seen the filter's first verdicts
CHARS_PER_TOKEN = 4  # a common average for English text
DYNAMIC_CHARS = 32  # assumed length of a value when no statistics are available


def static_chars(prompt: exp.Expr) -> tuple[int, int]:
    """(characters of literal text, number of dynamic values) of a prompt expression."""
    literal = sum(len(s.name) for s in prompt.find_all(exp.Literal) if s.is_string)
    newlines = sum(1 for _ in prompt.find_all(exp.Chr))
    values = sum(1 for _ in prompt.find_all(exp.Column))
    return literal + newlines, values


def sampled_prompt_chars(nodes: list[LlmNode], ctx: "RuleContext") -> dict[int, float]:
    """Average rendered prompt length of each of ``nodes`` (calls of one SELECT) over at most
    ``ctx.sample_rows`` rows of the input of one that reads no LLM answers; {} if none can."""
    head = next((n for n in nodes if not n.deps), None)
    if ctx.con is None or head is None or not isinstance(head.input, exp.Select):
        return {}
    sample = head.input.copy()
    sample.set("expressions", [exp.alias_(n.call.prompt.copy(), f"p{n.id}") for n in nodes])
    sample.set("limit", exp.Limit(expression=exp.Literal.number(ctx.sample_rows)))
    figures = ", ".join(f"avg(length(p{n.id}))" for n in nodes)
    try:
        (row,) = ctx.con.sql(f"SELECT {figures} FROM ({ctx.sql(sample)})").fetchall()
    except duckdb.Error:
        return {}
    return {n.id: float(v) for n, v in zip(nodes, row) if v is not None}


def estimate_prompt_tokens(node: LlmNode, sampled_chars: float | None = None) -> float:
    """Estimated prompt tokens per row of ``node`` (system message included)."""
    if sampled_chars is None:
        literal, values = static_chars(node.call.prompt)
        sampled_chars = literal + DYNAMIC_CHARS * values
    chars = sampled_chars + len(node.call.option("system") or "")
    return max(1.0, round(chars / CHARS_PER_TOKEN, 1))
