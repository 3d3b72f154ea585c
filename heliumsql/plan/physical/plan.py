"""The physical plan: how every LLM node of a statement runs, decided once before it runs.

The runtime (:mod:`heliumsql.workflow`) executes this object and never looks at SQL
structure again: each :class:`NodePlan` carries its strategy, why it was chosen, and the
DuckDB SQL it reads (rendered once), plus what its strategy needs (the LIMIT to stop at, the
adaptive chain it belongs to, the partial input it pipelines on, its static prompt start).

Strategies:

- ``batch``: every prompt of the input at once, when the nodes it reads are done;
- ``limit``: an ``llm_filter`` under ``LIMIT n`` streams its input in order and stops once n
  rows passed (:mod:`heliumsql.workflow.limit`);
- ``chain``: the LLM filters of one WHERE route rows adaptively
  (:mod:`heliumsql.workflow.adaptive_chain`);
- ``pipelined``: a row-wise node starts on the rows whose upstream answers exist
  (:mod:`heliumsql.workflow.pipeline`);
- ``llm_join``: an LLM predicate in ``JOIN ... ON``: every candidate pair's prompt at once
  (the pairs the relational conjuncts keep, see :mod:`heliumsql.plan.llm_join`), in the
  depth-first order of their prefix tree, so the pairs of one row share its KV prefix; or,
  with ``strategy => 'classify'``, one multi-label prompt per left row; or, with
  ``strategy => 'candidates', k => N``, only the pairs of each left row's N most similar right
  rows (approximate);
- ``on_demand``: the prompts cannot be precomputed; the final statement asks for them;
- ``embed``: ``llm_embed``'s texts, each distinct one embedded once (no generation);
- ``search``: ``llm_search``'s top k, exact or through a vector index
  (:mod:`heliumsql.vector_search`).

>>> ChainPlan((2, 1), frozenset({1}), "SELECT ...").rejecting(1)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from heliumsql.plan.names import chain_prompt_column
from heliumsql.plan.nodes import LlmNode, LogicalPlan
from heliumsql.plan.physical.pipelining import partial_input

STRATEGIES = ("batch", "limit", "chain", "pipelined", "llm_join", "on_demand", "embed",
              "search")


@dataclass(frozen=True)
class ChainPlan:
    """One adaptive filter chain: ``members`` in the optimizer's order, which are negated
    (``NOT llm_filter(...)``), and ``query``, the SQL yielding one row per input row with each
    member's prompt in column ``prompt_column(member)``."""

    members: tuple[int, ...]
    negated: frozenset[int]
    query: str

    @staticmethod
    def prompt_column(member: int) -> str:
        return chain_prompt_column(member)

    def passes(self, member: int, verdict: bool | None) -> bool:
        """Whether ``verdict`` keeps the row (NULL never does).

        >>> ChainPlan((1, 2), frozenset({2}), "").passes(2, False)
        True
        """
        if verdict is None:
            return False
        return verdict is (member not in self.negated)

    def rejecting(self, member: int) -> bool:
        """The answer that makes the member's conjunct false (for never-computed prompts)."""
        return member in self.negated


@dataclass(frozen=True)
class NodePlan:
    """How one LLM node runs. ``waits_for`` are the nodes that must be done before it starts
    (its chain's other members excluded); ``upstream`` is set for ``pipelined`` (the nodes whose
    answers its partial input waits for); ``static_text`` is the text every prompt of the node
    starts with (its entry in the prompt tree before its input is read), ``system`` its system
    message. The SQL texts (``input_sql``, ``partial_sql``) are rendered once, when first read:
    EXPLAIN never needs them, running a query does."""

    node: LlmNode
    strategy: str
    why: str
    waits_for: tuple[int, ...] = ()
    limit: int | None = None
    chain: ChainPlan | None = None
    upstream: tuple[int, ...] = ()
    static_text: str = ""
    system: str | None = None

    @property
    def id(self) -> int:
        return self.node.id

    @cached_property
    def input_sql(self) -> str | None:
        """The DuckDB SQL of the node's input (None for ``on_demand``)."""
        if self.node.input is None or self.strategy == "on_demand":
            return None
        return self.node.input.sql("duckdb")

    @cached_property
    def pairs_sql(self) -> str | None:
        """An ``llm_join`` node's count of the pairs its join considers (EXPLAIN ANALYZE)."""
        join = self.node.join
        return None if join is None or self.strategy != "llm_join" else join.pairs.sql("duckdb")

    @cached_property
    def partial_sql(self) -> str | None:
        """A ``pipelined`` node's partial input: the rows whose upstream answers all exist."""
        if not self.upstream or self.node.input is None:
            return None
        return partial_input(self.node.input, set(self.upstream)).sql("duckdb")  # type: ignore[arg-type]

    def describe(self) -> str:
        """The EXPLAIN line: the strategy and why.

        >>> from heliumsql.plan.nodes import LlmCall
        >>> call = LlmCall("llm", "scalar", "VARCHAR", "llm('x')", None, None, ())
        >>> NodePlan(LlmNode(1, call, None), "on_demand", "in a JOIN condition").describe()
        'on_demand: in a JOIN condition'
        """
        return f"{self.strategy}: {self.why}" if self.why else self.strategy


@dataclass(frozen=True)
class PhysicalPlan:
    """Every node's :class:`NodePlan` in execution order, the final statement's SQL, and
    whether the nodes are scheduled as one graph (optimizer on: shared prompt tree, pins,
    dedupe, depth-first order) or one at a time in arrival order (optimizer off)."""

    logical: LogicalPlan
    nodes: tuple[NodePlan, ...]
    statement_sql: str
    scheduled: bool

    def node(self, node_id: int) -> NodePlan:
        return next(n for n in self.nodes if n.id == node_id)

    @property
    def chains(self) -> tuple[ChainPlan, ...]:
        """The adaptive chains, each once, in plan order."""
        return tuple(dict.fromkeys(n.chain for n in self.nodes if n.chain is not None))

    def feeds(self) -> dict[int, tuple[int, ...]]:
        """Upstream node id -> the pipelined nodes that read its answers early."""
        out: dict[int, tuple[int, ...]] = {}
        for n in self.nodes:
            for upstream in n.upstream:
                out[upstream] = out.get(upstream, ()) + (n.id,)
        return out
