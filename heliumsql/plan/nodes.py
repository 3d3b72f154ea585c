"""Logical plan nodes: every LLM call of a statement as one DAG, plus the rewritten statement.

A statement becomes ``LogicalPlan(nodes, statement)``: each ``LlmNode`` is one LLM call whose
``input`` is a DuckDB query yielding the call's rendered prompts (column ``prompt``) for exactly
the rows the call will see; ``statement`` is the original statement with each call replaced by
``__helium_<id>(<prompt expression>)`` (a per-query DuckDB UDF that looks the answer up), and each
``llm_map`` by the table ``__helium_map_<id>``.

>>> node = LlmNode(1, call, input=None, deps=())          # doctest: +SKIP
>>> node.udf_name
'__helium_1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from heliumsql.grammar.templates import Template

# EXPLAIN names of the operator kinds, keyed by the catalog's function kind.
OPERATOR_NAMES = {"scalar": "LLMMap", "filter": "LLMFilter", "aggregate": "LLMAggregate",
                  "table": "LLMTableMap"}


@dataclass(frozen=True)
class LlmCall:
    """What one call computes: the function, its prompt expression (pure SQL in the call's
    scope), the parsed template (None for a non-literal prompt), and every option."""

    function: str
    kind: str
    returns: str
    text: str
    prompt: exp.Expr
    template: Template | None
    options: tuple[tuple[str, Any], ...]

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)


@dataclass(frozen=True)
class LlmNode:
    """One LLM operator. ``input`` is None when the prompts cannot be precomputed (JOIN ON,
    CASE branches, correlated subqueries): the UDF then computes them on demand.
    For ``llm_map``, ``input`` yields the input rows plus a ``__helium_prompt`` column and
    ``output``/``num_samples`` describe the added column(s)."""

    id: int
    call: LlmCall
    input: exp.Query | None
    deps: tuple[int, ...] = ()
    output: str | None = None
    num_samples: int = 1
    reason: str = ""

    @property
    def operator(self) -> str:
        return OPERATOR_NAMES[self.call.kind]

    @property
    def udf_name(self) -> str:
        return f"__helium_{self.id}"

    @property
    def table_name(self) -> str:
        return f"__helium_map_{self.id}"


@dataclass(frozen=True)
class LogicalPlan:
    """The whole statement: LLM nodes in a valid execution order, the rewritten statement, its
    output column names (what every optimizer rule must keep), and the rules that changed it."""

    nodes: tuple[LlmNode, ...]
    statement: exp.Expr
    columns: tuple[str, ...]
    applied_rules: tuple[str, ...] = field(default=())

    def node(self, node_id: int) -> LlmNode:
        return next(n for n in self.nodes if n.id == node_id)
