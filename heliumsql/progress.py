"""Progress reports from a running query, for progress bars in the REPL and notebooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """A snapshot of one LLM operator's work, sent to ``Connection.sql(..., progress=fn)``.

    ``rows_total`` is ``None`` while the operator's input size is not known yet. Token counts
    are cumulative for the operator; ``cached_tokens`` are prompt tokens served from the KV cache
    or the result cache instead of being computed.
    """

    operator: str
    rows_done: int
    rows_total: int | None
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    elapsed_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.generated_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


ProgressCallback = Callable[[Progress], None]
