"""Logical plan nodes: every LLM call of a statement as one DAG, plus the rewritten statement.

A statement becomes ``LogicalPlan(nodes, statement)``: each ``LlmNode`` is one LLM call whose
``input`` is a DuckDB query yielding the call's rendered prompts (column ``prompt``) for exactly
the rows the call will see; ``statement`` is the original statement with each call replaced by
``__helium_<id>(<prompt expression>)`` (a per-query DuckDB UDF that looks the answer up), and each
``llm_map`` by the table ``__helium_map_<id>``.

>>> from heliumsql.testing import logical_plan
>>> plan, _ = logical_plan("SELECT llm('Hi {name}') AS hi FROM people",
...                        "CREATE TABLE people(name VARCHAR)")
>>> node = plan.nodes[0]
>>> node.operator, node.udf_name, node.call.function, node.call.option("max_tokens")
('Llm', '__helium_1', 'llm', 64)
>>> plan.columns
('hi',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from heliumsql.grammar.templates import Template
from heliumsql.plan.llm_join import JoinSpec
from heliumsql.plan.names import map_table_name, udf_name
from heliumsql.plan.stand_ins import StandIns

# EXPLAIN names of the operator kinds, keyed by the catalog's function kind.
# Named after the SQL functions: llm -> Llm, llm_filter -> LlmFilter, ...
OPERATOR_NAMES = {"scalar": "Llm", "filter": "LlmFilter", "aggregate": "LlmAgg", "table": "LlmMap",
                  "embed": "LlmEmbed", "search": "LlmSearch"}
# Kinds whose answers are a table (``__helium_map_<id>``), not a value per prompt.
TABLE_KINDS = ("table", "search")
# Kinds that generate nothing (no prompt prefix to pin or share with the engine's cache).
EMBEDDING_KINDS = ("embed", "search")


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
    # Names of the record-style context fields (``llm('q', col_a, col_b)``) in prompt order;
    # each renders as the last three ``prompt`` parts: CHR(10), 'name: ', value.
    fields: tuple[str, ...] = ()

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)


@dataclass(frozen=True)
class LlmNode:
    """One LLM operator. ``input`` is None when the prompts cannot be precomputed (JOIN ON,
    CASE branches, correlated subqueries): the UDF then computes them on demand.
    For ``llm_map``, ``input`` yields the input rows plus a ``__helium_prompt`` column and
    ``output``/``num_samples`` describe the added column(s).

    The remaining fields are set by optimizer rules; their defaults are the unoptimized
    ("vLLM-style") behaviour the runtime must give when the optimizer is off:

    - ``dedupe_prompts``: identical prompts of this node go to the engine once (else each row
      is its own request).
    - ``limit``: for an ``llm_filter`` under ``LIMIT``, stop once this many input rows passed
      (in input order); prompts never computed then answer False, which the statement cannot
      observe because its LIMIT already has enough rows.
    - ``cost``/``selectivity``: estimated prompt tokens per row and the assumed fraction of rows
      a filter keeps; ``filter_chain`` lists the LLM filters of one WHERE in evaluation order
      (each member's input holds the earlier members' verdicts). Where sound, the runtime
      ignores that static order and learns it from the first batches
      (:mod:`heliumsql.workflow.adaptive_chain`); ``QueryStats.chain_runs`` says what it
      learned.
    - ``declared_fields``: the context-field order the user wrote, when ``reorder => true``
      chose another one (set by the planner: the order is part of the call).
    - ``join``: set by the planner for a call in ``JOIN ... ON`` whose candidate pairs it could
      write as ``input`` (:mod:`heliumsql.plan.llm_join`); EXPLAIN shows it as ``LlmJoin``.
    """

    id: int
    call: LlmCall
    input: exp.Query | None
    deps: tuple[int, ...] = ()
    output: str | None = None
    num_samples: int = 1
    reason: str = ""
    dedupe_prompts: bool = False
    limit: int | None = None
    cost: float | None = None
    selectivity: float | None = None
    filter_chain: tuple[int, ...] = ()
    declared_fields: tuple[str, ...] = ()
    join: JoinSpec | None = None

    @property
    def operator(self) -> str:
        return "LlmJoin" if self.join is not None else OPERATOR_NAMES[self.call.kind]

    @property
    def udf_name(self) -> str:
        return udf_name(self.id)

    @property
    def table_name(self) -> str:
        return map_table_name(self.id)


@dataclass(frozen=True)
class PinnedPrefix:
    """A prompt prefix every prompt of ``consumers`` starts with: keep its KV resident from the
    first consumer's first request until the last consumer's last request is admitted.

    ``text`` is the static start of the user message and ``system`` the system message, as the
    runtime passes them to ``chat_token_ids``; ``token_ids`` is the chat-formatted token prefix
    when the optimizer had a tokenizer (None in EXPLAIN without a model: the runtime then
    derives it with :func:`heliumsql.optimizer.factor_prompt_prefixes.prefix_token_ids`).

    >>> PinnedPrefix((1, 2), "Is this review positive? ", None).consumers
    (1, 2)
    """

    consumers: tuple[int, ...]
    text: str
    system: str | None
    token_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LogicalPlan:
    """The whole statement: LLM nodes in a valid execution order, the rewritten statement, its
    output column names (what every optimizer rule must keep), the rules that changed it,
    what each did (``notes``: (rule, what) pairs, shown by EXPLAIN), the prefixes to pin, and
    the typed stand-ins its SQL binds against before the query's objects exist."""

    nodes: tuple[LlmNode, ...]
    statement: exp.Expr
    columns: tuple[str, ...]
    applied_rules: tuple[str, ...] = field(default=())
    prefixes: tuple[PinnedPrefix, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    stand_ins: StandIns = StandIns()

    def node(self, node_id: int) -> LlmNode:
        return next(n for n in self.nodes if n.id == node_id)
