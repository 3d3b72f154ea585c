"""``Engine``: HeliumSQL's local inference engine (paged KV pool, radix cache, continuous batching).

No background thread: a caller of :meth:`Engine.generate` / :meth:`Engine.stream` queues its
requests, then runs steps under the engine lock until its own are done; each step serves every
queued request, so concurrent callers share steps (and often find their answers already made).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence as Seq
from typing import Any

import torch

from heliumsql.engine.config import EngineConfig
from heliumsql.engine.constraint import GrammarConstraints
from heliumsql.engine.errors import EngineError, PromptTooLongError, excerpt
from heliumsql.engine.flash import flash_available
from heliumsql.engine.interface import CompletionStream, Params, Priority, Prompt
from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.model_loader import ModelSpec, context_length, load_model, model_fingerprint
from heliumsql.engine.placement import Placement, resolve_placement
from heliumsql.engine.radix import RadixCache, RadixNode, chain_keys
from heliumsql.engine.request import Completion
from heliumsql.engine.runner import ModelRunner, check_supported, model_geometry
from heliumsql.engine.sampler import Sampler
from heliumsql.engine.sampling import ChoiceTrie, SamplingParams, finish_text, params_list
from heliumsql.engine.scheduler import Scheduler
from heliumsql.engine.sequence import Sequence, SeqStatus
from heliumsql.engine.stream import Call, Completions

_STAT_KEYS = ("prompt_tokens", "cached_tokens", "computed_prefill_tokens", "generated_tokens",
              "preemptions", "evictions", "steps")


class Engine:
    """Serve LLM requests from a Hugging Face causal LM with a shared paged KV cache.

    ``model`` is anything :func:`~heliumsql.engine.load_model` accepts (``device="auto"``: CUDA
    when present; :attr:`placement` says what runs); greedy output is token-identical to HF
    ``generate``. Extra keywords are :class:`EngineConfig` fields (``num_blocks``, ``attention``,
    ``cuda_graphs``, ...). It implements :class:`~heliumsql.engine.interface.PrefixCachingEngine`
    (pins, cache stamps, eviction priority, block geometry and queue depth).

    >>> eng = Engine("path/to/checkpoint", device="cpu")                     # doctest: +SKIP
    >>> [c.text for c in eng.generate(["Hi", "Hello"], SamplingParams(max_tokens=8))]  # doctest: +SKIP
    """

    def __init__(self, model: ModelSpec, device: str = "auto", dtype: Any = None,
                 block_size: int = 16, kv_cache_memory: int | None = None,
                 max_batch_tokens: int | None = None, **more: Any) -> None:
        self.config = EngineConfig.from_kwargs(block_size=block_size, kv_cache_memory=kv_cache_memory,
                                               max_batch_tokens=max_batch_tokens, **more)
        self.model, self.tokenizer = load_model(model, device, dtype)
        self.device = next(self.model.parameters()).device
        self.max_context = context_length(self.model)
        check_supported(self.model, self.max_context)
        self.fingerprint = model_fingerprint(self.model)
        self._vocab_size = self.model.get_input_embeddings().num_embeddings
        dtype_ = next(self.model.parameters()).dtype
        placement = resolve_placement(self.device, dtype_, self.config,
                                      flash_available(self.device, dtype_))
        layers, kv_heads, head_dim = model_geometry(self.model.config)
        per_block = KVPool.bytes_per_block(layers, block_size, kv_heads, head_dim, dtype_)
        num_blocks = self.config.pool_blocks(per_block, self.max_context, self.device)
        self.pool = KVPool(layers, num_blocks, block_size, kv_heads, head_dim, dtype_, self.device,
                           scratch=placement.cuda_graphs)
        self.radix = RadixCache(self.pool)
        self.scheduler = Scheduler(self.pool, self.radix, block_size,
                                   self.config.batch_tokens(self.device), self.config.max_num_seqs,
                                   cache_aware=self.config.cache_aware_admission,
                                   dedupe_prefixes=self.config.dedupe_prefixes,
                                   partial_blocks=self.config.partial_blocks)
        self.runner = ModelRunner(self.model, self.pool, block_size, placement,
                                  self.config.max_num_seqs)
        self.sampler = Sampler()
        self._lock = threading.Lock()
        self._pins: dict[int, RadixNode] = {}
        self._pin_ids = itertools.count(1)
        self._tries: dict[tuple[str, ...], ChoiceTrie] = {}
        self._grammars = GrammarConstraints(self.tokenizer, self._vocab_size)
        self._counters = dict.fromkeys(_STAT_KEYS, 0)
        self._base = dict.fromkeys(_STAT_KEYS, 0)

    # -- public API --------------------------------------------------------------------------
    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a prompt: a ``str`` gets the model's special tokens, ids pass through."""
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return [int(t) for t in prompt]

    def generate(self, prompts: Seq[Prompt], params: Params) -> list[Completion]:
        """Complete every prompt; results in request order."""
        return sorted(self.stream(prompts, params), key=lambda c: c.index)

    def stream(self, prompts: Seq[Prompt], params: Params) -> CompletionStream:
        """Yield completions as they finish (``Completion.index`` is the request's position).

        The requests join the engine's queue at once, before the iterator is read: a caller
        with several streams open gets every request into the same batches whichever stream
        it reads first. Closing the iterator early aborts the requests not yet finished.
        """
        plist = params_list(params, len(prompts))
        call = Call()
        for index, (prompt, p) in enumerate(zip(prompts, plist)):
            call.seqs.append(self._sequence(prompt, p, index, call))
        self._submit(call)
        return Completions(call, self._drain(call), self._abort)

    def cancel(self, stream: CompletionStream) -> None:
        """Abort ``stream``'s unfinished requests and free their KV blocks; idempotent."""
        stream.close()

    def pin(self, token_ids: Seq[int]) -> int:
        """Prefill ``token_ids`` (if not cached) and keep their K/V resident until
        :meth:`unpin`: the full blocks and, with ``partial_blocks`` on, the partial last
        block too, so a prompt extending the prefix reuses every one of its tokens.
        Returns a handle.

        >>> h = eng.pin(eng.encode("You are a classifier. "))          # doctest: +SKIP
        >>> eng.unpin(h)                                                # doctest: +SKIP
        """
        ids = [int(t) for t in token_ids]
        if len(ids) > self.max_context:
            text = excerpt(self.tokenizer.decode(ids[:100]))
            raise PromptTooLongError(f"pinned prefix {text!r} has {len(ids)} tokens; the model's "
                                     f"context is {self.max_context}", len(ids), self.max_context,
                                     None, text)
        with self._lock:
            node = self._cached_node(ids)
            if node is not None:
                self.radix.lock(node)
                return self._add_pin(node)
        call = Call()
        seq = Sequence(ids, SamplingParams(max_tokens=1), 0, self.config.block_size, 0, call,
                       prefill_only=True)
        call.seqs.append(seq)
        self._submit(call)
        for _ in self._drain(call):
            pass
        with self._lock:  # the finished sequence's lock on its prefix becomes the pin's
            return self._add_pin(seq.node if seq.node is not None else self.radix.root)

    def unpin(self, handle: int) -> None:
        """Let a pinned prefix be evicted again."""
        with self._lock:
            node = self._pins.pop(handle, None)
            if node is None:
                raise EngineError(f"unknown pin handle {handle!r} (already unpinned?)")
            self.radix.unlock(node)

    def set_eviction_priority(self, priority: Priority | None) -> None:
        """Rank cached prefixes for eviction: ``priority(prefix_tokens)``, lower goes first,
        ties by least recent use. ``None`` restores plain LRU."""
        with self._lock:
            self.radix.priority = priority

    def cache_stamp(self) -> int:
        """A point in time for :meth:`cached_prefix`: K/V cached after it is not counted."""
        with self._lock:
            return self.radix.stamp()

    def cached_prefix(self, token_ids: Seq[int], before: int | None = None) -> int:
        """How many leading ``token_ids`` have K/V in the prefix cache now (cached since
        before :meth:`cache_stamp` ``before``, when given). Queries use it to tell the prompt
        tokens earlier work left cached from those they computed.

        >>> stamp = engine.cache_stamp(); engine.generate([ids], params)  # doctest: +SKIP
        >>> engine.cached_prefix(ids), engine.cached_prefix(ids, before=stamp)  # doctest: +SKIP
        (40, 0)
        """
        with self._lock:
            return self.radix.cached_length(list(token_ids), before)

    @property
    def placement(self) -> Placement:  # the runner's: it falls back if FlexAttention fails
        return self.runner.placement

    @property
    def block_size(self) -> int:
        return self.config.block_size

    @property
    def num_blocks(self) -> int:
        return self.pool.num_blocks

    @property
    def partial_blocks(self) -> bool:
        return self.config.partial_blocks

    def num_queued(self) -> int:
        """Requests waiting or running (the queue depth)."""
        with self._lock:
            return len(self.scheduler.waiting) + len(self.scheduler.running)

    def stats(self) -> dict[str, int]:
        """Cumulative counters since construction or :meth:`reset_stats`."""
        with self._lock:
            now = self._snapshot()
        return {k: now[k] - self._base[k] for k in _STAT_KEYS}

    def reset_stats(self) -> None:
        with self._lock:
            self._base = self._snapshot()

    # -- requests ----------------------------------------------------------------------------
    def _sequence(self, prompt: Prompt, p: SamplingParams, index: int, call: Call) -> Sequence:
        ids = self.encode(prompt)
        if len(ids) + 1 > self.max_context:
            text = excerpt(prompt if isinstance(prompt, str) else self.tokenizer.decode(ids[:100]))
            raise PromptTooLongError(
                f"prompt {index} ({text!r}) has {len(ids)} tokens; the model's context is "
                f"{self.max_context}", len(ids), self.max_context, index, text)
        if not ids:
            raise EngineError(f"prompt {index} is empty; give it at least one token")
        if min(ids) < 0 or max(ids) >= self._vocab_size:
            raise EngineError(f"prompt {index} has token ids outside the model's vocabulary "
                              f"(0..{self._vocab_size - 1})")
        gen = None
        if not p.greedy:  # seeded as asked, else from fresh entropy
            gen = torch.Generator(device=self.device)
            gen.manual_seed(p.seed if p.seed is not None else gen.seed())
        choice = None
        if p.choices is not None:
            choice = self._tries.get(p.choices)
            if choice is None:
                seqs = [self.tokenizer.encode(c, add_special_tokens=False) for c in p.choices]
                choice = self._tries[p.choices] = ChoiceTrie(seqs, self.tokenizer.eos_token_id)
        max_new = min(p.max_tokens, self.max_context - len(ids))
        if choice is not None:
            max_new = 1 + max(len(s) for s in choice.seqs)
        matcher = self._grammars.matcher(p.json_schema) if p.json_schema is not None else None
        seq = Sequence(ids, p, max_new, self.config.block_size, index, call, generator=gen,
                       choice=choice, matcher=matcher)
        if p.stop:
            seq.stop_tail = max(len(s.encode()) for s in p.stop) + 8
        seq.stop_ids = self._stop_ids(p)
        return seq

    def _submit(self, call: Call) -> None:
        """Queue every request of ``call`` (all or none)."""
        with self._lock:
            added = []
            try:
                for seq in call.seqs:
                    self.scheduler.add(seq)
                    added.append(seq)
            except BaseException:
                for seq in added:
                    self.scheduler.abort(seq)
                raise
            for seq in call.seqs:
                if not seq.prefill_only:
                    self._counters["prompt_tokens"] += seq.num_prompt_tokens
            call.outstanding = len(call.seqs)

    def _drain(self, call: Call) -> Iterator[Completion]:
        """Step the engine until each of ``call``'s completions can be yielded."""
        try:
            while call.outstanding or call.ready:
                if call.ready:
                    yield call.ready.popleft()
                    continue
                if call.cancelled:
                    break  # cancelled from another thread: stop stepping, let it take the lock
                with self._lock:
                    if not call.ready and call.error is None and call.outstanding:
                        if not self.scheduler.has_work:
                            raise EngineError("internal error: requests were lost by the "
                                              "scheduler; please report this")
                        self._step()
                if call.error is not None:
                    raise call.error
        finally:
            self._abort(call)

    def _abort(self, call: Call) -> None:
        """Drop ``call``'s unfinished requests (its caller stopped reading)."""
        if call.outstanding:
            with self._lock:
                for seq in call.seqs:
                    if seq.status is not SeqStatus.FINISHED:
                        self.scheduler.abort(seq)
                call.outstanding = 0

    # -- one step ----------------------------------------------------------------------------
    def _step(self) -> None:
        batch = self.scheduler.schedule()
        if batch is None:
            for seq in self.scheduler.stats.failed:
                seq.status = SeqStatus.FINISHED
                seq.owner.error = EngineError(
                    f"request {seq.index} ({seq.num_tokens} tokens) does not fit the KV pool next "
                    f"to the pinned prefixes ({self.pool.num_blocks} blocks of "
                    f"{self.config.block_size}); unpin prefixes or raise kv_cache_memory")
                seq.owner.outstanding -= 1
            self.scheduler.stats.failed.clear()
            return
        keep, sampling = [], []
        end = prefill = 0
        for seq, n in zip(batch.seqs, batch.counts):
            end += n
            if seq.num_computed + n == seq.num_tokens and not seq.prefill_only:
                keep.append(end - 1)
                sampling.append(seq)
            c = seq.num_computed
            prefill += max(0, min(c + n, seq.prefill_end) - c)
        masks = None
        if any(s.matcher is not None for s in sampling):
            masks = self._grammars.start([s.matcher for s in sampling])  # overlaps the forward
        logits = self.runner.run(batch, keep)
        self._counters["computed_prefill_tokens"] += prefill
        self._grammars.finish(logits, masks)
        tokens = self.sampler(
            logits, [s.params for s in sampling], [s.generator for s in sampling],
            [s.choice.allowed(s.token_ids[s.num_prompt_tokens:]) if s.choice else None
             for s in sampling]) if sampling else []
        self.scheduler.postprocess(batch)
        self._counters["steps"] += 1
        self._counters["generated_tokens"] += len(tokens)
        if masks is not None:
            self._grammars.advance([(s.matcher, t) for s, t in zip(sampling, tokens) if s.matcher])
        for seq, tok in zip(sampling, tokens):
            seq.token_ids.append(tok)
            done = self._finished(seq)
            if done is not None:
                self.scheduler.finish(seq)
                seq.owner.ready.append(done)
                seq.owner.outstanding -= 1
        for seq in batch.seqs:
            if seq.prefill_only and seq.num_computed == seq.num_tokens:
                seq.node = self.scheduler.finish(seq, keep_lock=True)
                seq.owner.outstanding -= 1

    def _finished(self, seq: Sequence) -> Completion | None:
        """The completion if ``seq``'s newest token ends it, else ``None``."""
        # A grammar that admits nothing more ends the answer as a stop token would.
        hit_stop = seq.token_ids[-1] in seq.stop_ids or (
            seq.matcher is not None and seq.matcher.is_stopped())
        if (seq.choice is None and not hit_stop and not seq.stop_tail
                and seq.num_generated < seq.max_new_tokens):
            return None  # the common case, decided without copying anything
        p, gen = seq.params, seq.token_ids[seq.num_prompt_tokens:]
        if seq.choice is not None:
            chosen = seq.choice.resolved(gen)
            if chosen is None and len(gen) < seq.max_new_tokens:
                return None
            # The rest of a decided choice is forced: finish it without running those steps.
            out = list(seq.choice.seqs[chosen]) if chosen is not None else gen
            eos = self.tokenizer.eos_token_id
            if chosen is not None and eos is not None:
                out.append(eos)
            text = p.choices[chosen] if chosen is not None else ""
            return Completion(seq.index, text, tuple(out), seq.num_prompt_tokens,
                              seq.num_cached_tokens, "choice", chosen)
        stop_ids = seq.stop_ids
        if not hit_stop and len(gen) < seq.max_new_tokens:
            tail = self.tokenizer.decode(gen[-seq.stop_tail:], skip_special_tokens=True)
            if not any(s in tail for s in p.stop):
                return None
        pad = self.tokenizer.pad_token_id
        while gen and gen[-1] == pad and gen[-1] not in stop_ids:  # as HF generate reports it
            gen.pop()
        text, by_string = finish_text(self.tokenizer, gen, p)
        reason = "stop" if hit_stop or by_string else "length"
        return Completion(seq.index, text, tuple(gen), seq.num_prompt_tokens,
                          seq.num_cached_tokens, reason)

    def _stop_ids(self, p: SamplingParams) -> frozenset[int]:
        ids = set(p.stop_token_ids)
        if not p.ignore_eos and self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return frozenset(ids)

    def _cached_node(self, ids: list[int]) -> RadixNode | None:
        """The node whose lock keeps all of ``ids`` resident, if they are all cached."""
        bs = self.config.block_size
        keys = list(chain_keys(ids, bs))
        blocks, node = self.radix.match(keys)
        tail = ids[len(keys) * bs:]
        if len(blocks) < len(keys):
            return None
        if not tail or not self.config.partial_blocks:
            return node
        child, shared = self.radix.best_child(node, tail)
        return child if shared == len(tail) else None

    def _add_pin(self, node: RadixNode) -> int:
        handle = next(self._pin_ids)
        self._pins[handle] = node
        return handle

    def _snapshot(self) -> dict[str, int]:
        now = dict(self._counters)
        now["cached_tokens"] = self.scheduler.stats.cached_tokens
        now["preemptions"] = self.scheduler.stats.preemptions
        now["evictions"] = self.radix.num_evicted
        return now
