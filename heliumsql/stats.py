"""Per-operator and per-query figures for ``EXPLAIN ANALYZE`` and ``Result.analyze``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OperatorStats:
    """What one LLM operator did. ``rows_in`` counts input rows, ``distinct_prompts`` the
    prompts actually sent (after deduplication), ``on_demand_prompts`` those the UDF had to
    compute during the final query (not precomputed)."""

    operator: str
    rows_in: int = 0
    rows_out: int = 0
    distinct_prompts: int = 0
    on_demand_prompts: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    elapsed_s: float = 0.0

    def line(self) -> str:
        return (f"rows_in={self.rows_in} rows_out={self.rows_out} "
                f"distinct_prompts={self.distinct_prompts} on_demand={self.on_demand_prompts} "
                f"prompt_tokens={self.prompt_tokens} cached_tokens={self.cached_tokens} "
                f"generated_tokens={self.generated_tokens} time={self.elapsed_s:.3f}s")


@dataclass
class QueryStats:
    """Figures of one executed query: ``operators`` maps node id to its stats."""

    operators: dict[int, OperatorStats] = field(default_factory=dict)
    rows: int = 0
    relational_s: float = 0.0
    total_s: float = 0.0

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

    def line(self) -> str:
        return (f"rows={self.rows} llm_calls={self.llm_calls} prompt_tokens={self.prompt_tokens} "
                f"cached_tokens={self.cached_tokens} generated_tokens={self.generated_tokens} "
                f"relational_time={self.relational_s:.3f}s time={self.total_s:.3f}s")

    def __str__(self) -> str:
        lines = [f"{s.operator}  {s.line()}" for s in self.operators.values()]
        return "\n".join(lines + [f"Total  {self.line()}"])
