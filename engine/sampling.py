"""Generation parameters shared by every engine backend (no torch here, so planning and the
REPL start without importing it; the local engine's sampler is in ``sampler.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from heliumsql.engine.errors import EngineError


@dataclass(frozen=True)
class SamplingParams:
    """How to generate one completion.

    ``temperature == 0`` is greedy decoding. With ``temperature > 0`` the request is sampled
    with a generator seeded by ``seed`` (the SQL layer derives it from the prompt and
    parameters, so a result never depends on batching or order). ``choices`` constrains the
    answer to exactly one of the given strings (``llm_filter`` uses ``("yes", "no", ...)``);
    the completion's ``choice`` is then the index of the chosen string. ``json_schema`` (a JSON
    schema as text) constrains the answer to a JSON value the schema accepts, token by token
    (see ``constraint.py``); the completion's text is then that JSON.

    >>> SamplingParams(max_tokens=8, stop=("\\n",))
    SamplingParams(max_tokens=8, temperature=0.0, top_p=1.0, top_k=0, seed=None, stop=('\\n',), stop_token_ids=(), ignore_eos=False, choices=None, json_schema=None)
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
    json_schema: str | None = None

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
        if self.choices is not None and self.json_schema is not None:
            raise EngineError("give choices or json_schema, not both")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def params_list(params: SamplingParams | Sequence[SamplingParams], n: int) -> list[SamplingParams]:
    """One :class:`SamplingParams` per prompt (a single one applies to all)."""
    if isinstance(params, SamplingParams):
        return [params] * n
    out = list(params)
    if len(out) != n:
        raise ValueError(f"got {len(out)} SamplingParams for {n} prompts")
    return out


def finish_text(tokenizer: Any, token_ids: Sequence[int], params: SamplingParams) -> tuple[str, bool]:
    """Decode generated ids, cut at the first stop string; returns (text, stopped_by_string)."""
    text = tokenizer.decode(list(token_ids), skip_special_tokens=True)
    cut = min((i for i in (text.find(s) for s in params.stop) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut].strip(), True
    return text.strip(), False


class ChoiceTrie:
    """Constrained decoding among fixed answers, walked over their token sequences.

    While several choices fit what was generated, only their next tokens are allowed (plus
    EOS where one choice is already complete and a longer one extends it); once the choices
    still possible all spell the same tokens, the answer is decided and the rest is forced,
    so the engine finishes without running the forced steps.

    >>> trie = ChoiceTrie([[5, 6], [5, 7], [8]], eos=0)
    >>> trie.allowed([]), trie.resolved([]), trie.resolved([8])
    ([5, 8], None, 2)
    """

    def __init__(self, token_seqs: Sequence[Sequence[int]], eos: int | None) -> None:
        self.seqs = [tuple(s) for s in token_seqs]
        self.eos = eos

    def _candidates(self, done: Sequence[int]) -> list[int]:
        n, prefix = len(done), tuple(done)
        return [i for i, s in enumerate(self.seqs) if s[:n] == prefix]

    def resolved(self, done: Sequence[int]) -> int | None:
        """The chosen index once ``done`` decides the answer, else ``None``."""
        n = len(done)
        if n and self.eos is not None and done[-1] == self.eos:
            complete = [i for i, s in enumerate(self.seqs) if s == tuple(done[:-1])]
            return complete[0] if complete else None
        cands = self._candidates(done)
        if cands and all(self.seqs[i] == self.seqs[cands[0]] for i in cands):
            return cands[0]
        return None

    def allowed(self, done: Sequence[int]) -> list[int]:
        n = len(done)
        cands = self._candidates(done)
        nxt = {self.seqs[i][n] for i in cands if len(self.seqs[i]) > n}
        if self.eos is not None and (not nxt or any(len(self.seqs[i]) == n for i in cands)):
            nxt.add(self.eos)
        return sorted(nxt)
