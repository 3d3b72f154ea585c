"""``EnginePump``: runs the engine for every HTTP request at once, from one driver thread.

The engine has no thread of its own: reading a stream runs engine steps until that stream's next
completion is ready, and every step serves every queued request. So the server queues each
request's stream at once (``submit``) and one driver thread reads, in turn, the oldest stream
with work left; the steps it runs serve all streams, whose completions wait in their own
``num_ready`` queues. Handlers take those without stepping (``take``), so a short request is
answered as soon as it is done, not when the driven one is.

A stream is read by one thread at a time (the driver, or its handler when it has completions
ready). ``cancel`` aborts a request at once, even the one the driver is reading: the engine's
cancel is safe from any thread, and that read then ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from heliumsql.engine.interface import CompletionStream, EngineBackend, Params, Prompt
from heliumsql.engine.request import Completion

# How long a waiting handler sleeps between looks at its stream: short at first (an answer
# that is nearly done), longer later so hundreds of waiting clients cost little CPU.
_FIRST_POLL, _MAX_POLL = 0.002, 0.02
# How often a non-streaming handler asks whether its client is still connected.
_DISCONNECT_CHECK = 0.1


class Submission:
    """One request's stream and what has been read from it."""

    def __init__(self, stream: CompletionStream, size: int) -> None:
        self.stream, self.size = stream, size
        self.num_read = 0          # completions taken out of the stream (by driver or handler)
        self.num_handed = 0        # completions given to the handler
        self.read: deque[Completion] = deque()  # read by the driver, not yet handed
        self.error: BaseException | None = None
        self.driving = False       # the driver is inside next(stream)
        self.closed = False        # cancelled or finished: nobody reads it any more
        self.cancel_after_read = False

    @property
    def finished(self) -> bool:
        """Every completion was handed to the handler."""
        return self.num_handed == self.size


class EnginePump:
    """Share one engine among concurrent requests; see the module docstring.

    >>> pump = EnginePump(engine); pump.start()                         # doctest: +SKIP
    >>> sub = pump.submit([ids], SamplingParams(max_tokens=8))          # doctest: +SKIP
    >>> [c async for c in pump.results(sub)]                            # doctest: +SKIP
    """

    def __init__(self, engine: EngineBackend) -> None:
        self.engine = engine
        self._mutex = threading.Lock()
        self._wake = threading.Condition(self._mutex)
        self._active: list[Submission] = []  # arrival order: the oldest is driven first
        self._stopping = False
        self._driver = threading.Thread(target=self._drive, name="heliumsql-pump", daemon=True)
        # engine.cancel takes the engine lock (up to one step); never make the event loop wait.
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heliumsql-cancel")

    def start(self) -> None:
        self._driver.start()

    def stop(self) -> None:
        """Cancel every open request and end the driver thread."""
        with self._wake:
            self._stopping = True
            active, self._active = self._active, []
            self._wake.notify_all()
        for sub in active:
            self.cancel(sub)
        if self._driver.is_alive():
            self._driver.join(timeout=30)
        self._closer.shutdown(wait=True)

    # -- handler side ----------------------------------------------------------------------
    def submit(self, prompts: Sequence[Prompt], params: Params) -> Submission:
        """Queue the requests in the engine (blocks up to one engine step: call it from a
        worker thread); engine errors such as a prompt too long are raised here."""
        stream = self.engine.stream(prompts, params)
        sub = Submission(stream, len(prompts))
        with self._wake:
            if self._stopping:
                stream.close()
                raise RuntimeError("the server is shutting down")
            self._active.append(sub)
            self._wake.notify()
        return sub

    def take(self, sub: Submission) -> list[Completion]:
        """The completions ready for ``sub`` now; never runs an engine step."""
        with self._mutex:
            got = list(sub.read)
            sub.read.clear()
            if not sub.driving and not sub.closed:
                while sub.stream.num_ready():
                    got.append(next(sub.stream))
                    sub.num_read += 1
            sub.num_handed += len(got)
            if sub.error is not None and not got:
                raise sub.error
            if sub.num_handed == sub.size:
                self._retire(sub)
        return got

    def cancel(self, sub: Submission) -> None:
        """Abort ``sub``'s unfinished requests and free their KV blocks; idempotent."""
        with self._mutex:
            if sub.closed:
                return
            sub.closed = True
            if sub.driving:
                sub.cancel_after_read = True  # the driver forgets it when its read returns
            else:
                self._forget(sub)
        # Safe from any thread: a read of this stream in progress ends at once.
        self._closer.submit(self.engine.cancel, sub.stream)

    async def results(self, sub: Submission,
                      disconnected: Callable[[], Awaitable[bool]] | None = None
                      ) -> AsyncIterator[Completion]:
        """``sub``'s completions as they finish. Leaving early (the consumer stops, the task is
        cancelled, or ``disconnected()`` turns true) cancels what is unfinished."""
        loop = asyncio.get_running_loop()
        delay, next_check = _FIRST_POLL, loop.time() + _DISCONNECT_CHECK
        try:
            while not sub.finished:
                got = self.take(sub)
                for completion in got:
                    yield completion
                if got:
                    delay = _FIRST_POLL
                    continue
                if disconnected is not None and loop.time() >= next_check:
                    if await disconnected():
                        return
                    next_check = loop.time() + _DISCONNECT_CHECK
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, _MAX_POLL)
        finally:
            if not sub.finished:
                self.cancel(sub)

    # -- driver side -----------------------------------------------------------------------
    def _pick(self) -> Submission | None:
        for sub in self._active:
            if not sub.closed and sub.num_read + sub.stream.num_ready() < sub.size:
                return sub
        return None

    def _drive(self) -> None:
        while True:
            with self._wake:
                sub = self._pick()
                while sub is None:
                    if self._stopping:
                        return
                    self._wake.wait()
                    sub = self._pick()
                sub.driving = True
            completion, error = None, None
            try:
                completion = next(sub.stream)  # runs engine steps that serve every stream
            except StopIteration:  # cancelled while being read, or an engine fault
                error = None if sub.closed else \
                    RuntimeError("internal error: the engine's stream ended early")
            except BaseException as exc:  # noqa: BLE001 - handed to the request's handler
                error = exc
            with self._mutex:
                sub.driving = False
                if completion is not None:
                    sub.read.append(completion)
                    sub.num_read += 1
                if error is not None:
                    sub.error = error
                    self._forget(sub)
                if sub.cancel_after_read:
                    self._forget(sub)

    def _forget(self, sub: Submission) -> None:
        sub.closed = True
        if sub in self._active:
            self._active.remove(sub)

    def _retire(self, sub: Submission) -> None:
        """Every completion is handed: closing only ends the stream's generator (no engine
        work is left to abort, so this never waits on the engine lock)."""
        self._forget(sub)
        sub.stream.close()
