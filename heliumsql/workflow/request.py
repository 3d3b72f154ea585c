"""One answer an LLM operator needs, as the runtime schedules it.

>>> r = LlmRequest(1, ("Hi", 0), (5, 6), SamplingParams(max_tokens=4))
>>> r.identity == LlmRequest(2, ("Hi", 0), (5, 6), SamplingParams(max_tokens=4)).identity
True
"""

from __future__ import annotations

from dataclasses import dataclass

from heliumsql.engine.sampling import SamplingParams


@dataclass(eq=False)
class LlmRequest:
    """``key`` is the operator's name for the answer: (rendered prompt, sample index);
    ``token_ids`` the chat-formatted prompt the engine sees. Two requests with the same
    ``identity`` have the same answer (results are a function of prompt and parameters), so
    the runtime may compute one and give it to both. ``lane`` (a node id) keeps a request out of
    shared streams so its node's outstanding work can be cancelled (``LIMIT`` over a filter)."""

    node_id: int
    key: tuple[str, int]
    token_ids: tuple[int, ...]
    params: SamplingParams
    lane: int | None = None

    @property
    def prompt(self) -> str:
        return self.key[0]

    @property
    def sample(self) -> int:
        return self.key[1]

    @property
    def identity(self) -> tuple:
        return (self.lane, self.token_ids, self.params)
