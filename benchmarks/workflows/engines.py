"""The engines the workflow systems run on, each recording the prompts it is sent.

- :class:`RecordingEngine`: HeliumSQL's ``Engine`` as it ships (cache-aware admission in
  depth-first order, in-batch prefix dedup).
- :class:`ReactiveEngine`: the same engine with a vLLM-style scheduler: waiting requests are
  admitted first come, first served, and two requests admitted together that share an uncached
  prefix both compute it (vLLM has neither cache-aware admission nor in-batch dedup), and only
  full KV blocks are shared (as vLLM's automatic prefix caching does). The radix cache stays:
  plain reactive prefix caching, LRU eviction.
- :class:`RecordingHFEngine`: the reference backend (one Hugging Face ``generate`` per request,
  no cache) for the naive system.

Every one keeps ``issued``: the token ids of each prompt completed through ``stream`` or
``generate`` (the numerator of prefill efficiency is the union prefix tree of these).

>>> engine = ReactiveEngine((model, tokenizer))          # doctest: +SKIP
>>> engine.generate(["hi"], SamplingParams(max_tokens=4)); len(engine.issued)   # doctest: +SKIP
1
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from heliumsql.engine import Engine, HFGenerateEngine
from heliumsql.engine.interface import Params, Prompt
from heliumsql.engine.request import Completion


class _Recorder:
    """Mixin: remember the token ids of every prompt ``stream`` completes.

    A request cancelled before it finishes (a LIMIT met, the stream closed) is not counted: its
    prompt is not part of what the query needed, though any prefill it did counts as computed.
    """

    issued: list[list[int]]

    def stream(self, prompts: Sequence[Prompt], params: Params) -> Iterator[Completion]:
        ids = [self.encode(p) for p in prompts]  # type: ignore[attr-defined]
        # Called now, not on the first read: the engine queues the requests at once.
        return _Recorded(super().stream(prompts, params), ids, self.issued)  # type: ignore[misc]


class _Recorded:
    """The engine's completion iterator, appending each finished prompt to ``issued``."""

    def __init__(self, inner: Iterator[Completion], ids: list[list[int]],
                 issued: list[list[int]]) -> None:
        self._inner, self._ids, self._issued = inner, ids, issued

    def __iter__(self) -> Iterator[Completion]:
        return self

    def __next__(self) -> Completion:
        completion = next(self._inner)
        self._issued.append(self._ids[completion.index])
        return completion

    def num_ready(self) -> int:
        ready = getattr(self._inner, "num_ready", None)
        return ready() if callable(ready) else 0

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


class RecordingEngine(_Recorder, Engine):
    """HeliumSQL's engine, unchanged, recording the prompts it is sent."""

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        self.issued = []


class ReactiveEngine(RecordingEngine):
    """HeliumSQL's engine with a vLLM-style scheduler and cache: arrival-order admission, no
    in-batch prefix dedup, full blocks shared only (block accounting, chunked prefill,
    preemption and the radix cache with LRU eviction are the engine's own, so the comparison
    isolates those policies)."""

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, cache_aware_admission=False, dedupe_prefixes=False,
                         partial_blocks=False, **options)


class RecordingHFEngine(_Recorder, HFGenerateEngine):
    """The reference backend (one HF ``generate`` per request, nothing cached), recording."""

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        self.issued = []
