"""Per-operator and per-query figures for ``EXPLAIN ANALYZE`` and ``Result.analyze``.

>>> s = QueryStats(distinct_prompt_tokens=90, computed_prefill_tokens=100)
>>> s.prefill_efficiency
0.9
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heliumsql.runs import ChainRun, PipelineRun


@dataclass
class OperatorStats:
    """What one LLM operator did.

    ``distinct_prompts``: answers the operator needed after its own deduplication (with the
    optimizer off: one per row); ``result_cache_hits`` of them came from the result cache,
    ``engine_requests`` were computed by the engine for this operator (the rest were shared with
    an identical request of another operator). ``on_demand_prompts``: prompts the UDF had to
    compute while the final query ran. Token figures count this operator's engine requests:
    ``cached_tokens`` were served from the KV cache, ``computed_tokens`` (prompt minus cached)
    were prefilled.
    """

    operator: str
    rows_in: int = 0
    rows_out: int = 0
    distinct_prompts: int = 0
    on_demand_prompts: int = 0
    result_cache_hits: int = 0
    engine_requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    elapsed_s: float = 0.0
    # An LLM join (nested loop): the pairs of its two inputs, before any ON conjunct.
    pairs_considered: int | None = None
    # Its distinct candidate pairs, when they are not its prompts (strategy => 'classify').
    distinct_pairs: int | None = None
    # The candidate pairs the candidates step kept (strategy => 'candidates'; rows_in before).
    kept_pairs: int | None = None
    # What an operator did beyond these counts, as (label, text) lines for EXPLAIN ANALYZE
    # (a hierarchical aggregate's levels, a search's method).
    details: list[tuple[str, str]] = field(default_factory=list)

    @property
    def computed_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    def pairs_line(self) -> str:
        """An LLM join's pairs: considered, pruned by the relational conjuncts (``rows_in``
        are the candidate pairs) and as duplicates, and the prompts the engine was sent.

        >>> OperatorStats("LlmJoin #1", rows_in=40, distinct_prompts=30, engine_requests=30,
        ...               pairs_considered=100).pairs_line()
        'considered=100 pruned_by_conjuncts=60 pruned_as_duplicates=10 prompts_sent=30'
        """
        considered = self.pairs_considered or 0
        distinct = self.distinct_prompts if self.distinct_pairs is None else self.distinct_pairs
        kept = self.rows_in if self.kept_pairs is None else self.kept_pairs
        candidates = "" if self.kept_pairs is None else \
            f"pruned_by_candidates={self.rows_in - kept} "
        return (f"considered={considered} pruned_by_conjuncts={considered - self.rows_in} "
                f"{candidates}pruned_as_duplicates={kept - distinct} "
                f"prompts_sent={self.engine_requests}")

    def line(self) -> str:
        return (f"rows_in={self.rows_in} rows_out={self.rows_out} "
                f"distinct_prompts={self.distinct_prompts} on_demand={self.on_demand_prompts} "
                f"result_cache_hits={self.result_cache_hits} engine_requests={self.engine_requests} "
                f"prompt_tokens={self.prompt_tokens} cached_tokens={self.cached_tokens} "
                f"computed_tokens={self.computed_tokens} generated_tokens={self.generated_tokens} "
                f"time={self.elapsed_s:.3f}s")


@dataclass(frozen=True)
class ReplicaStats:
    """One engine replica's share of a query (a cluster backend): ``requests`` it answered,
    ``retries`` among them (re-sent after another replica died), its prompt, cached and
    computed prefill tokens, and whether it is still ``alive`` at the end."""

    replica: int
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    computed_prefill_tokens: int = 0
    alive: bool = True

    @classmethod
    def delta(cls, replica: int, before: dict[str, int], after: dict[str, int]) -> ReplicaStats:
        d = {k: after.get(k, 0) - before.get(k, 0) for k in
             ("requests", "retries", "prompt_tokens", "cached_tokens", "computed_prefill_tokens")}
        return cls(replica, alive=bool(after.get("alive", 1)), **d)

    def line(self) -> str:
        return (f"requests={self.requests} retries={self.retries} "
                f"prompt_tokens={self.prompt_tokens} cached_tokens={self.cached_tokens} "
                f"computed_prefill_tokens={self.computed_prefill_tokens}"
                + ("" if self.alive else " (died)"))


@dataclass
class QueryStats:
    """Figures of one executed query: ``operators`` maps node id to its stats.

    ``distinct_prompt_tokens`` is the size of the union prefix tree of every prompt the engine
    answered for the query (and of its pinned prefixes); ``reused_prompt_tokens`` are those of
    them whose K/V earlier queries had left in the cache; ``computed_prefill_tokens`` is what
    the engine prefilled meanwhile (its stats delta, pins and cancelled requests included).
    ``prefill_efficiency`` = (distinct - reused) / computed: 1.0 when every token the query had
    to compute was computed exactly once (the benchmarks' figure, which start cold).
    """

    operators: dict[int, OperatorStats] = field(default_factory=dict)
    rows: int = 0
    planning_s: float = 0.0
    relational_s: float = 0.0
    total_s: float = 0.0
    distinct_prompt_tokens: int = 0
    reused_prompt_tokens: int = 0
    computed_prefill_tokens: int = 0
    pinned_prefixes: int = 0
    pinned_tokens: int = 0
    evictions: int = 0
    # What the runtime decided as it ran: adaptive chains' learned orders, pipelined nodes.
    chain_runs: tuple[ChainRun, ...] = ()
    pipeline_runs: tuple[PipelineRun, ...] = ()
    replicas: tuple[ReplicaStats, ...] = ()  # per engine replica, on a cluster backend

    @property
    def llm_calls(self) -> int:
        return sum(s.distinct_prompts + s.on_demand_prompts for s in self.operators.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(s.prompt_tokens for s in self.operators.values())

    @property
    def cached_tokens(self) -> int:
        return sum(s.cached_tokens for s in self.operators.values())

    @property
    def generated_tokens(self) -> int:
        return sum(s.generated_tokens for s in self.operators.values())

    @property
    def result_cache_hits(self) -> int:
        return sum(s.result_cache_hits for s in self.operators.values())

    @property
    def engine_requests(self) -> int:
        return sum(s.engine_requests for s in self.operators.values())

    @property
    def prefill_efficiency(self) -> float | None:
        """Distinct prompt tokens not already cached / prefill tokens computed (None when
        nothing was computed)."""
        if not self.computed_prefill_tokens:
            return None
        return (self.distinct_prompt_tokens - self.reused_prompt_tokens) / self.computed_prefill_tokens

    @property
    def kv_hit_rate(self) -> float:
        """Share of the prompt tokens of the query's engine requests served from the KV cache."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def line(self) -> str:
        """Totals, then the workflow figures (EXPLAIN ANALYZE prints it after ``Total``)."""
        eff = self.prefill_efficiency
        return (f"rows={self.rows} llm_calls={self.llm_calls} engine_requests={self.engine_requests} "
                f"result_cache_hits={self.result_cache_hits} prompt_tokens={self.prompt_tokens} "
                f"cached_tokens={self.cached_tokens} generated_tokens={self.generated_tokens} "
                f"distinct_prompt_tokens={self.distinct_prompt_tokens} "
                f"reused_prompt_tokens={self.reused_prompt_tokens} "
                f"computed_prefill_tokens={self.computed_prefill_tokens} "
                f"prefill_efficiency={'n/a' if eff is None else f'{eff:.3f}'} "
                f"kv_hit_rate={self.kv_hit_rate:.3f} pinned_prefixes={self.pinned_prefixes} "
                f"pinned_tokens={self.pinned_tokens} evictions={self.evictions} "
                f"planning_time={self.planning_s * 1000:.1f}ms "
                f"relational_time={self.relational_s:.3f}s time={self.total_s:.3f}s")

    def __str__(self) -> str:
        lines = [f"{s.operator}  {s.line()}" for s in self.operators.values()]
        lines += [f"Total  {self.line()}"]
        return "\n".join(lines + [f"Replica {r.replica}  {r.line()}" for r in self.replicas])
