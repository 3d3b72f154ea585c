"""The local engine's :class:`~heliumsql.engine.interface.CompletionStream`.

The engine has no background thread: reading a stream runs engine steps (``Engine._drain``) until
its next completion is ready, and closing it aborts the requests still unfinished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from heliumsql.engine.request import Completion
from heliumsql.engine.sequence import Sequence


class Call:
    """The requests of one ``generate``/``stream`` call and its finished completions."""

    def __init__(self) -> None:
        self.seqs: list[Sequence] = []
        self.ready: deque[Completion] = deque()
        self.outstanding = 0
        self.error: BaseException | None = None
        self.cancelled = False  # set without the lock, so a reading thread stops stepping


class Completions:
    """What :meth:`Engine.stream` returns: its requests are already queued, so closing it (or
    dropping it) before reading aborts them too, which a generator that never started could
    not do. ``drain`` yields the call's completions, stepping the engine as needed; ``abort``
    drops the call's unfinished requests (a no-op once none is left)."""

    def __init__(self, call: Call, drain: Iterator[Completion], abort: Callable[[Call], None]
                 ) -> None:
        self._call, self._inner, self._abort = call, drain, abort

    def __iter__(self) -> Iterator[Completion]:
        return self

    def __next__(self) -> Completion:
        return next(self._inner)

    def num_ready(self) -> int:
        """Completions that ``next`` returns without running an engine step."""
        return len(self._call.ready)

    def close(self) -> None:
        """Abort the requests not yet finished and free their blocks; idempotent. Safe from any
        thread: the abort takes the engine's lock, and a thread reading this stream meanwhile
        gets the completions already finished, then the end of the stream."""
        self._call.cancelled = True  # a reader between steps stops: the lock comes free
        self._abort(self._call)
        try:
            self._inner.close()
        except ValueError:
            pass  # another thread is inside next(): with nothing outstanding, it ends by itself

    def __del__(self) -> None:
        if self._call.outstanding:
            self.close()
