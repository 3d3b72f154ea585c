"""Getting answers for requests: result cache, then answers already made this query, then the
engine in depth-first streams that keep it busy without flooding it.

There is no thread. Each ``engine.stream`` call is a generator; pulling one completion from
any of them advances the engine for every queued request, so several open streams share the
engine's batches. New streams are opened while the engine still has work from older ones
(whenever at most half the ``window`` of requests is in flight), so a downstream operator's
requests join the running batch instead of waiting for it to drain.

With ``ordered`` the queue is kept in depth-first order of the prompt tree (sorted token ids)
across every operator that submitted to it; without, requests go in arrival order. With
``dedupe`` a request identical to one already queued, in flight or answered rides on it.

>>> d = Dispatcher(engine, deliver, model=engine.fingerprint)     # doctest: +SKIP
>>> d.submit(requests); while d.pump(): pass                     # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

from heliumsql.engine.interface import CompletionStream, EngineBackend, PrefixCachingEngine
from heliumsql.engine.request import Completion
from heliumsql.result_cache import CacheSession
from heliumsql.sampling import REQUEST_FAILED
from heliumsql.workflow.prompt_tree import PromptTree
from heliumsql.workflow.request import LlmRequest, open_stream

# Where an answer came from: computed now, read from the result cache, or made for an identical
# request of this query.
ENGINE, RESULT_CACHE, SHARED = "engine", "result_cache", "shared"
Deliver = Callable[[LlmRequest, Completion, str], None]


class _Stream:
    __slots__ = ("iterator", "requests", "lane", "remaining")

    def __init__(self, iterator: Iterator[Completion], requests: list[LlmRequest],
                 lane: int | None) -> None:
        self.iterator, self.requests, self.lane = iterator, requests, lane
        self.remaining = len(requests)


class Dispatcher:
    """Routes every request of one query to an answer; ``deliver`` receives each answer."""

    def __init__(self, engine: EngineBackend, deliver: Deliver, *, model: str,
                 cache: CacheSession | None = None, tree: PromptTree | None = None,
                 ordered: bool = True, dedupe: bool = True, window: int = 512) -> None:
        self.engine, self.deliver, self.model, self.cache = engine, deliver, model, cache
        self.tree, self.ordered, self.dedupe = tree, ordered, dedupe
        self.window = max(window, 1)
        self.num_outstanding = 0
        self.completed: list[tuple[int, ...]] = []  # those the engine answered (not cancelled)
        # K/V cached before the query started is earlier work's, not the query's to compute.
        # (A backend without a prefix cache reuses nothing.)
        self.stamp: int | None = engine.cache_stamp() \
            if isinstance(engine, PrefixCachingEngine) else None
        self._reused: dict[tuple[int, ...], int] = {}
        self._queue: list[LlmRequest] = []
        self._lanes: dict[int, list[LlmRequest]] = {}
        self._lane_chunk: dict[int, Callable[[], int]] = {}
        self._waiters: dict[tuple, list[LlmRequest]] = {}
        self._done: dict[tuple, Completion] = {}
        self._streams: deque[_Stream] = deque()

    # -- submitting --------------------------------------------------------------------------
    def submit(self, requests: Sequence[LlmRequest], chunk: Callable[[], int] | None = None) -> None:
        """Queue ``requests``; answers found at once (result cache, shared) are delivered now.
        Requests with a ``lane`` run in their own streams of ``chunk()`` requests at a time."""
        fresh: list[LlmRequest] = []
        for req in requests:
            ident = self._identity(req)
            if ident in self._done:
                self.deliver(req, self._done[ident], SHARED)
            elif ident in self._waiters:
                self._waiters[ident].append(req)
            else:
                self._waiters[ident] = [req]
                fresh.append(req)
        queued = []
        num_queued = len(self._queue)
        for req, hit in zip(fresh, self._lookup(fresh)):
            if hit is not None:
                self._answer(req, hit, RESULT_CACHE)
                continue
            queued.append(req.token_ids)
            if req.lane is None:
                self._queue.append(req)
            else:
                self._lanes.setdefault(req.lane, []).append(req)
                if chunk is not None:
                    self._lane_chunk[req.lane] = chunk
        if self.tree is not None:
            self.tree.add_many(queued)
        if self.ordered and len(self._queue) > num_queued:
            # Stable: requests with equal prompts keep their arrival order. Lanes (LIMIT over
            # a filter) keep input order: the limit counts rows in that order. Only when
            # something joined the queue: the runtime submits on every step, often nothing, and
            # re-sorting thousands of queued requests each time cost more than the model.
            self._queue.sort(key=lambda r: r.token_ids)

    def cancel_lane(self, lane: int) -> list[LlmRequest]:
        """Drop the lane's queued requests and abort its streams; returns what was dropped."""
        dropped = self._lanes.pop(lane, [])
        self._lane_chunk.pop(lane, None)
        for stream in [s for s in self._streams if s.lane == lane]:
            self._streams.remove(stream)
            self.engine.cancel(stream.iterator)  # aborts what the engine has not finished
            unanswered = [r for r in stream.requests if self._identity(r) in self._waiters]
            self.num_outstanding -= stream.remaining
            dropped += unanswered
        for req in dropped:
            self._waiters.pop(self._identity(req), None)
            if self.tree is not None:
                self.tree.remove(req.token_ids)
        return dropped

    # -- running -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self._streams or self._queue or any(self._lanes.values()))

    def pump(self) -> bool:
        """Open streams where there is room, then deliver one engine answer. False when
        nothing is queued or in flight."""
        self._launch()
        while self._streams:
            stream = self._next_stream()
            completion = next(stream.iterator, None)
            if completion is None:
                self._streams.remove(stream)
                self._launch()
                continue
            self.num_outstanding -= 1
            stream.remaining -= 1
            if not stream.remaining:  # all answered: end it now rather than on the next poll
                self._streams.remove(stream)
                self.engine.cancel(stream.iterator)
            request = stream.requests[completion.index]
            self.completed.append(request.token_ids)
            self._answer(request, completion, ENGINE)
            return True
        return False

    def run_now(self, requests: Sequence[LlmRequest]) -> list[tuple[Completion, str]]:
        """Answer ``requests`` before returning (on-demand work from a UDF): one stream."""
        answers: dict[tuple, tuple[Completion, str]] = {}
        fresh: dict[tuple, LlmRequest] = {}
        for req in requests:
            ident = self._identity(req)
            if ident in self._done:
                answers[ident] = (self._done[ident], SHARED)
            elif ident not in fresh:
                fresh[ident] = req
        todo = list(fresh.values())
        for req, hit in zip(todo, self._lookup(todo)):
            if hit is not None:
                answers[self._identity(req)] = (hit, RESULT_CACHE)
                self._remember(req, hit, store=False)
        todo = [r for r in todo if self._identity(r) not in answers]
        if self.ordered:
            todo.sort(key=lambda r: r.token_ids)
        if todo:
            self._note_reuse(todo)
            stream = open_stream(self.engine, todo)
            try:
                for completion in stream:
                    req = todo[completion.index]
                    self.completed.append(req.token_ids)
                    answers[self._identity(req)] = (completion, ENGINE)
                    self._remember(req, completion, store=True)
            finally:
                self.engine.cancel(stream)
        out = []
        for req in requests:
            completion, source = answers[self._identity(req)]
            out.append((completion, source if req is fresh.get(self._identity(req)) else SHARED))
        return out

    def close(self) -> None:
        """Abort every open stream (the engine drops their unfinished requests)."""
        while self._streams:
            self.engine.cancel(self._streams.popleft().iterator)
        self._queue.clear()
        self._lanes.clear()
        self.num_outstanding = 0

    # -- internals ---------------------------------------------------------------------------
    def _identity(self, req: LlmRequest) -> tuple:
        return req.identity if self.dedupe else (id(req),)

    def _lookup(self, requests: list[LlmRequest]) -> list[Completion | None]:
        if self.cache is None or not requests:
            return [None] * len(requests)
        return self.cache.get([self._cache_key(r) for r in requests])

    def _cache_key(self, req: LlmRequest) -> str:
        return CacheSession.key(self.model, req.token_ids, req.params, req.sample)

    def reused_prefixes(self) -> list[tuple[int, ...]]:
        """For each prompt the engine answered, its leading tokens whose K/V earlier work had
        left cached when it was sent (never its last token: a request always computes that
        one, its logits are needed)."""
        return [p[:self._reused.get(p, 0)] for p in self.completed]

    def _note_reuse(self, requests: list[LlmRequest]) -> None:
        if self.stamp is not None:
            # Asked when sent: the query's own work may later replace a cached partial block.
            for r in requests:
                if r.token_ids not in self._reused:
                    cached = self.engine.cached_prefix(r.token_ids, before=self.stamp)
                    self._reused[r.token_ids] = min(cached, len(r.token_ids) - 1)

    def _launch(self) -> None:
        if self._queue and self.num_outstanding <= self.window // 2:
            take = self._queue[:self.window - self.num_outstanding]
            del self._queue[:len(take)]
            self._open(take, None)
        busy = {s.lane for s in self._streams}
        for lane, queued in self._lanes.items():
            if queued and lane not in busy:
                size = max(1, self._lane_chunk.get(lane, lambda: self.window)())
                take = queued[:size]
                del queued[:size]
                self._open(take, lane)

    def _open(self, requests: list[LlmRequest], lane: int | None) -> None:
        self._note_reuse(requests)
        self.num_outstanding += len(requests)
        iterator = iter(open_stream(self.engine, requests))
        self._streams.append(_Stream(iterator, requests, lane))

    @property
    def has_ready(self) -> bool:
        """Whether some answer can be delivered without running an engine step."""
        return any(_num_ready(s) for s in self._streams)

    def _next_stream(self) -> _Stream:
        """A stream with an answer ready, else the oldest. Answers the engine already has go
        out before anything makes it step: downstream work they unlock then joins the same
        batches instead of waiting for a step that only serves the stream being read."""
        return next((s for s in self._streams if _num_ready(s)), self._streams[0])

    def _remember(self, req: LlmRequest, completion: Completion, store: bool) -> None:
        if self.dedupe:
            self._done[self._identity(req)] = completion
        # A request the server never answered (NULL under on_error) is asked again next time.
        if store and self.cache is not None and completion.finish_reason != REQUEST_FAILED:
            self.cache.put(self._cache_key(req), req.prompt, completion, model=self.model,
                           params=req.params, sample=req.sample)

    def _answer(self, req: LlmRequest, completion: Completion, source: str) -> None:
        if source == ENGINE and self.tree is not None:
            self.tree.remove(req.token_ids)
        self._remember(req, completion, store=source == ENGINE)
        waiters = self._waiters.pop(self._identity(req), [req])
        for i, waiter in enumerate(waiters):
            self.deliver(waiter, completion, source if i == 0 else SHARED)


def _num_ready(stream: _Stream) -> int:
    """Answers ``stream`` holds already (0 for a plain iterator, which cannot tell)."""
    iterator = stream.iterator
    return iterator.num_ready() if isinstance(iterator, CompletionStream) else 0
