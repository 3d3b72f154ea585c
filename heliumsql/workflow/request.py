"""One answer an LLM operator needs, as the runtime schedules it.

>>> r = LlmRequest(1, ("Hi", 0), (5, 6), SamplingParams(max_tokens=4))
>>> r.identity == LlmRequest(2, ("Hi", 0), (5, 6), SamplingParams(max_tokens=4)).identity
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from heliumsql.backends import FailureTolerant
from heliumsql.engine.interface import CompletionStream, EngineBackend
from heliumsql.engine.sampling import SamplingParams


@dataclass(eq=False)
class LlmRequest:
    """``key`` is the operator's name for the answer: (rendered prompt, sample index);
    ``token_ids`` the chat-formatted prompt the engine sees. Two requests with the same
    ``identity`` have the same answer (results are a function of prompt and parameters), so
    the runtime may compute one and give it to both. ``lane`` (a node id) keeps a request out of
    shared streams so its node's outstanding work can be cancelled (``LIMIT`` over a filter).
    ``null_on_error`` (the call's ``on_error => 'null'``) lets a backend whose requests fail
    one by one answer a failed request with NULL instead of stopping the statement; it is not
    part of the identity (the answer does not depend on it)."""

    node_id: int
    key: tuple[str, int]
    token_ids: tuple[int, ...]
    params: SamplingParams
    lane: int | None = None
    null_on_error: bool = False

    @property
    def prompt(self) -> str:
        return self.key[0]

    @property
    def sample(self) -> int:
        return self.key[1]

    @property
    def identity(self) -> tuple:
        return (self.lane, self.token_ids, self.params)


def open_stream(engine: EngineBackend, requests: Sequence[LlmRequest]) -> CompletionStream:
    """``engine.stream`` over ``requests``; a backend whose requests fail one by one
    (:class:`~heliumsql.backends.FailureTolerant`) is told which may fail into NULL."""
    prompts = [list(r.token_ids) for r in requests]
    params = [r.params for r in requests]
    if isinstance(engine, FailureTolerant) and any(r.null_on_error for r in requests):
        return engine.stream_tolerant(prompts, params, [r.null_on_error for r in requests])
    return engine.stream(prompts, params)
