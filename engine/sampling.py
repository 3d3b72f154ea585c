"""Generation parameters shared by every engine backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from heliumsql.errors import EngineError


@dataclass(frozen=True)
class SamplingParams:
    """How to generate one completion.

    ``temperature == 0`` is greedy decoding. With ``temperature > 0`` the request is sampled
    with a generator seeded by ``seed`` (the SQL layer derives it from the prompt and
    parameters, so a result never depends on batching or order). ``choices`` constrains the
    answer to exactly one of the given strings (``llm_filter`` uses ``("yes", "no", ...)``);
    the completion's ``choice`` is then the index of the chosen string.

    >>> SamplingParams(max_tokens=8, stop=("\\n",))
    SamplingParams(max_tokens=8, temperature=0.0, top_p=1.0, top_k=0, seed=None, stop=('\\n',), stop_token_ids=(), ignore_eos=False, choices=None)
    """

    max_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = field(default=())
    stop_token_ids: tuple[int, ...] = field(default=())
    ignore_eos: bool = False
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise EngineError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise EngineError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise EngineError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise EngineError(f"top_k must be >= 0, got {self.top_k}")
        if self.choices is not None and len(self.choices) < 2:
            raise EngineError("choices needs at least two alternatives")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0
