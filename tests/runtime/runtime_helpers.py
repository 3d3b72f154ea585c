"""Shared pieces of the workflow runtime tests: workflow queries and an engine recorder.

``RecordingEngine`` is the real engine with a log of the ``stream`` calls the runtime makes
(what it sent, in which order, and when each call opened, answered and ended); every answer
still comes from the real engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from heliumsql.engine import Engine

# A long instruction shared by every template of the workflow queries (byte-level tokenizer:
# one token per character), so prefix sharing dominates the prompt tokens.
INSTRUCTION = "You are a careful analyst. Read the record below and answer in one word. " * 3

ITEMS = """
CREATE TABLE items AS SELECT * FROM (VALUES
  (1, 'apple', 'red fruit, sweet'), (2, 'banana', 'yellow fruit'), (3, 'cherry', 'red, small'),
  (4, 'apple', 'red fruit, sweet'), (5, 'date', 'brown fruit'), (6, 'elder', 'dark berry'),
  (7, 'fig', 'purple fruit'), (8, 'grape', 'green or red'), (9, 'banana', 'yellow fruit'),
  (10, 'kiwi', 'green, fuzzy')
) t(id, name, descr);
"""

# Two independent calls over items, then a call that reads both answers: three operators,
# two stages, one shared instruction.
WORKFLOW = f"""
WITH a AS (SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 3) AS x,
                      llm('{INSTRUCTION} About: {{descr}}', max_tokens => 3) AS y FROM items)
SELECT id, x, y, llm('{INSTRUCTION} Combine: {{x}} / {{y}}', max_tokens => 3) AS z FROM a ORDER BY id
"""


class RecordingEngine:
    """Delegates to ``engine``; logs each ``stream`` call's prompts and open/end events."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.calls: list[list[list[int]]] = []
        self.events: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream(self, prompts: Sequence[Any], params: Any) -> Iterator[Any]:
        call = len(self.calls)
        self.calls.append([list(p) for p in prompts])
        # Opened now, as the engine queues a stream's requests when it is called.
        self.events.append(("open", call))
        return _Logged(self._engine.stream(prompts, params), self.events, call)


class _Logged:
    """A stream's completions, logging each answer and the end (closed or exhausted)."""

    def __init__(self, inner: Any, events: list[tuple[str, int]], call: int) -> None:
        self._inner, self._events, self._call = inner, events, call
        self._ended = False

    def __iter__(self) -> "_Logged":
        return self

    def __next__(self) -> Any:
        try:
            completion = next(self._inner)
        except StopIteration:
            self.close()
            raise
        self._events.append(("answer", self._call))
        return completion

    def num_ready(self) -> int:
        return self._inner.num_ready()

    def close(self) -> None:
        if not self._ended:
            self._ended = True
            self._inner.close()
            self._events.append(("end", self._call))


def assert_engine_idle(engine: Engine) -> None:
    """No pin, no lock and no eviction hook left behind: every cached block is evictable."""
    assert engine._pins == {}
    assert engine.radix.num_protected == 0
    assert engine.radix.priority is None
    assert engine.pool.num_free + engine.radix.num_evictable == engine.pool.num_blocks


class PinLog:
    """Wraps an engine's pin/unpin to log (event, prefix) next to RecordingEngine's events."""

    def __init__(self, recorder: RecordingEngine) -> None:
        self.recorder = recorder
        self.live: dict[int, tuple[int, ...]] = {}
        engine = recorder._engine
        pin, unpin = engine.pin, engine.unpin

        def logged_pin(ids: Sequence[int]) -> int:
            handle = pin(ids)
            self.live[handle] = tuple(ids)
            recorder.events.append(("pin", handle))
            return handle

        def logged_unpin(handle: int) -> None:
            unpin(handle)
            recorder.events.append(("unpin", handle))

        recorder.pin, recorder.unpin = logged_pin, logged_unpin
