"""The engine contract: what the runtime may ask of whatever answers LLM calls.

Every backend implements :class:`EngineBackend`. An engine with a prefix cache also implements
:class:`PrefixCachingEngine`; the runtime checks ``isinstance(engine, PrefixCachingEngine)`` and,
for a backend without it (a remote server), gives the same answers with no pins and no reuse
accounting. Nothing outside ``engine/`` reads an engine's internals.

>>> from heliumsql.engine import Engine                                  # doctest: +SKIP
>>> eng = Engine("path/to/checkpoint")                                    # doctest: +SKIP
>>> isinstance(eng, EngineBackend), isinstance(eng, PrefixCachingEngine)   # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, Union, runtime_checkable

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams

Prompt = Union[str, Sequence[int]]
Params = Union[SamplingParams, Sequence[SamplingParams]]
Priority = Callable[[tuple[int, ...]], float]


@runtime_checkable
class CompletionStream(Protocol):
    """The completions of one :meth:`EngineBackend.stream` call, in the order they finish
    (each tagged with ``Completion.index``, the request's position in the call)."""

    def __iter__(self) -> Iterator[Completion]: ...

    def __next__(self) -> Completion: ...

    def num_ready(self) -> int:
        """Completions already finished that ``next`` returns without running the engine."""
        ...

    def close(self) -> None:
        """Stop reading: the call's unfinished requests are aborted."""
        ...


@runtime_checkable
class EngineBackend(Protocol):
    """What the runtime needs from any engine; the local engine and other backends implement it.

    ``generate`` returns completions in request order; ``stream`` queues every request at once
    and yields completions as they finish. A ``str`` prompt is tokenized with the model's special
    tokens; a token-id list is used as is. ``fingerprint`` identifies the model (result-cache
    keys); ``stats`` returns cumulative counters (``prompt_tokens``, ``cached_tokens``,
    ``computed_prefill_tokens``, ``generated_tokens``, ...).
    """

    tokenizer: Any
    max_context: int
    fingerprint: str

    def generate(self, prompts: Sequence[Prompt], params: Params) -> list[Completion]: ...

    def stream(self, prompts: Sequence[Prompt], params: Params) -> CompletionStream: ...

    def cancel(self, stream: CompletionStream) -> None:
        """Abort ``stream``'s unfinished requests and free what they hold; idempotent."""
        ...

    def stats(self) -> dict[str, int]: ...


@runtime_checkable
class PrefixCachingEngine(EngineBackend, Protocol):
    """The optional capability of an engine with a paged prefix cache.

    ``block_size`` and ``num_blocks`` are the KV pool's geometry; ``partial_blocks`` says
    whether cached K/V is reused down to the token (else whole blocks only). ``pin`` keeps a
    prefix resident until ``unpin``; ``cache_stamp`` / ``cached_prefix`` tell tokens cached
    before a point in time from those computed after it; ``set_eviction_priority`` ranks cached
    prefixes for eviction (lower first, ties by least recent use; ``None`` is plain LRU);
    ``num_queued`` is the queue depth (requests waiting or running).
    """

    @property
    def block_size(self) -> int: ...

    @property
    def num_blocks(self) -> int: ...

    @property
    def partial_blocks(self) -> bool: ...

    def pin(self, token_ids: Sequence[int]) -> int: ...

    def unpin(self, handle: int) -> None: ...

    def cache_stamp(self) -> int: ...

    def cached_prefix(self, token_ids: Sequence[int], before: int | None = None) -> int: ...

    def set_eviction_priority(self, priority: Priority | None) -> None: ...

    def num_queued(self) -> int: ...


class Described(Protocol):
    def describe(self) -> str: ...


@runtime_checkable
class PlacedEngine(Protocol):
    """An engine that runs a model on a device of this machine. ``placement.describe()`` says
    where and how (``"cuda:0 bfloat16, attention flex (compiled), CUDA graphs for decode"``);
    ``EXPLAIN ANALYZE`` and the REPL's ``.model`` print it."""

    placement: Described


def runs_on(engine: object) -> str | None:
    """What :class:`PlacedEngine` ``engine`` runs on, ``None`` for other backends."""
    return engine.placement.describe() if isinstance(engine, PlacedEngine) else None
