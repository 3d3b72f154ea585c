"""One engine replica of a Ray cluster: the actor :class:`~heliumsql.backends.ray_cluster.
RayClusterBackend` starts N of (``ray.remote(Replica)``; this module never imports Ray).

The actor is threaded (several calls at once): the driver reads several streams of a replica
while it also asks for cached prefixes, pins and figures; the engine serializes them under its
own lock, and concurrent streams share its batches as they do in one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from heliumsql.engine.interface import CompletionStream, Priority, runs_on
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams


class Replica:
    """An :class:`~heliumsql.engine.Engine` behind a Ray actor; ``stream`` is a Ray streaming
    generator (each completion reaches the driver as soon as it is finished)."""

    def __init__(self, model: Any, device: str, dtype: Any, threads: int | None,
                 options: dict[str, Any]) -> None:
        import torch

        from heliumsql.engine import Engine

        if threads:  # one replica per core: its forward passes must not fight over the others
            torch.set_num_threads(threads)
        self.engine = Engine(model, device=device, dtype=dtype, **options)
        self._calls: dict[int, CompletionStream] = {}

    def describe(self) -> dict[str, Any]:
        """What the driver needs without loading the model itself."""
        e = self.engine
        return dict(tokenizer=e.tokenizer, max_context=e.max_context, fingerprint=e.fingerprint,
                    block_size=e.block_size, num_blocks=e.num_blocks,
                    partial_blocks=e.partial_blocks, runs_on=runs_on(e))

    def stream(self, call_id: int, prompts: Sequence[Sequence[int]],
               params: Sequence[SamplingParams]) -> Iterator[Completion]:
        stream = self.engine.stream(prompts, list(params))
        self._calls[call_id] = stream
        try:
            for completion in stream:  # a CompletionStream, not a generator to delegate to
                yield completion
        finally:
            self._calls.pop(call_id, None)
            stream.close()

    def abort(self, call_id: int) -> None:
        """The driver stopped reading ``call_id``: its unfinished requests are dropped."""
        stream = self._calls.pop(call_id, None)
        if stream is not None:
            stream.close()

    def pin(self, token_ids: Sequence[int]) -> int:
        return self.engine.pin(token_ids)

    def unpin(self, handle: int) -> None:
        self.engine.unpin(handle)

    def cache_stamp(self) -> int:
        return self.engine.cache_stamp()

    def cached_prefix(self, token_ids: Sequence[int], before: int | None) -> int:
        return self.engine.cached_prefix(token_ids, before)

    def set_eviction_priority(self, priority: Priority | None) -> None:
        self.engine.set_eviction_priority(priority)

    def stats(self) -> dict[str, int]:
        return self.engine.stats()
