"""Continuous batching: which sequences run in the next step, and with how many tokens.

Each step first serves running sequences (decodes and unfinished prefill chunks, oldest
first), then admits waiting ones while the token budget, the sequence cap and the KV pool
allow. When the pool runs dry a running sequence grows into, cache blocks nobody holds are
evicted first; then the newest running sequence is preempted (its private blocks freed; its
full blocks stay in the radix cache, so recomputing it later is mostly cache hits).

Admission reuses cached K/V down to the token: after the longest chain of cached full blocks,
the cached block below it (full, or a partial leaf left by a finished request or a pin) that
shares the most leading tokens with the request's next ones is *copied* into the request's
first private block, up to the token where they differ (copy-on-write: shared blocks are never
written). The last prompt token is always computed, since its logits are needed.

Admission is cache-aware: longest cached prefix first, then the waiting requests in
lexicographic token order, which is a depth-first walk of the prefix tree they form. A
request whose next uncached block is being computed by another in-flight request waits
(in-batch prefix dedup), then joins with that block cached; so does, once, a request whose
next tokens an in-flight block shares more of than any cached block does.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field

from heliumsql.engine.errors import EngineError
from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.radix import BlockKey, RadixCache, RadixNode, closest_key
from heliumsql.engine.sequence import Sequence, SeqStatus

# Share of a running request's possible growth that admission keeps free: requests often stop
# well before max_tokens, so reserving all of it would leave the pool half empty.
_GROWTH_RESERVE_PERCENT = 50


class _InFlight:
    """The full prompt blocks running sequences will compute but have not cached yet, filed
    under the hash of the prefix before them with their keys sorted, so a waiting request
    finds how many of its next tokens one of them will hold (in-batch prefix dedup)."""

    def __init__(self) -> None:
        self._keys: dict[int, list[BlockKey]] = {}

    def add(self, seq: Sequence, start: int, stop: int) -> None:
        """File ``seq``'s full blocks ``start..stop``."""
        keys = seq.block_keys(stop)
        for b in range(start, stop):
            insort(self._keys.setdefault(_prefix_hash(seq, b), []), keys[b])

    def shared(self, seq: Sequence, b: int, tokens: list[int]) -> int:
        """Leading ``tokens`` (``seq``'s, from block ``b`` on) some block in flight holds."""
        order = self._keys.get(_prefix_hash(seq, b))
        return closest_key(order, tuple(tokens))[1] if order else 0


def _prefix_hash(seq: Sequence, b: int) -> int:
    return seq.block_hash(b - 1) if b else 0


@dataclass
class Batch:
    """One step: ``counts[i]`` new tokens of ``seqs[i]``; the first ``num_decode`` have one each."""

    seqs: list[Sequence]
    counts: list[int]
    num_decode: int


@dataclass
class SchedulerStats:
    cached_tokens: int = 0
    preemptions: int = 0
    failed: list[Sequence] = field(default_factory=list)


class Scheduler:
    """Decides each step's batch and keeps the block accounting of every sequence.

    >>> from heliumsql.engine.sampling import SamplingParams
    >>> pool = KVPool(1, 16, 4, 1, 8); sched = Scheduler(pool, RadixCache(pool), 4, 64, 8)
    >>> seq = Sequence(list(range(10)), SamplingParams(), max_new_tokens=2, block_size=4)
    >>> sched.add(seq); batch = sched.schedule(); batch.counts
    [10]
    """

    def __init__(self, pool: KVPool, radix: RadixCache, block_size: int, max_batch_tokens: int,
                 max_num_seqs: int, cache_aware: bool = True, dedupe_prefixes: bool = True,
                 partial_blocks: bool = True) -> None:
        self.pool, self.radix, self.block_size = pool, radix, block_size
        self.max_batch_tokens, self.max_num_seqs = max_batch_tokens, max_num_seqs
        # Both off is a vLLM-style scheduler (arrival order; requests admitted together each
        # compute a shared uncached prefix): the benchmarks' baseline.
        self.cache_aware, self.dedupe_prefixes = cache_aware, dedupe_prefixes
        # Off: only full blocks are shared (vLLM's prefix caching), no partial leaves are kept.
        self.partial_blocks = partial_blocks
        self.waiting: list[Sequence] = []
        self.running: list[Sequence] = []
        self.stats = SchedulerStats()
        self._sorted = True

    # -- lifecycle -------------------------------------------------------------------------
    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def add(self, seq: Sequence) -> None:
        """Queue a sequence; raises when it could never fit the pool, even alone."""
        need = self.blocks_for(seq.num_tokens + (0 if seq.prefill_only else seq.max_new_tokens))
        if need > self.pool.num_blocks:
            raise EngineError(
                f"request {seq.index} needs {need} KV blocks ({seq.num_tokens} prompt tokens + "
                f"{seq.max_new_tokens} new) but the pool has {self.pool.num_blocks}; raise "
                "kv_cache_memory or lower max_tokens")
        seq.status = SeqStatus.WAITING
        self.waiting.append(seq)
        self._sorted = False

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence wherever it is, returning its blocks."""
        if seq.status is SeqStatus.RUNNING:
            self.running.remove(seq)
            self._release(seq)
        elif seq.status is SeqStatus.WAITING:
            self.waiting.remove(seq)
        seq.status = SeqStatus.FINISHED

    def finish(self, seq: Sequence, keep_lock: bool = False) -> RadixNode | None:
        """Retire a running sequence, caching the computed part of its last block. With
        ``keep_lock`` its cached prefix, that part included, stays locked and the locked node
        is returned (``Engine.pin``)."""
        self.running.remove(seq)
        tail = self._cache_tail(seq)
        node = None
        if keep_lock and tail is not None:
            self.radix.lock(tail)
            node = tail
        elif keep_lock:
            node, seq.node = seq.node, None
        self._release(seq)
        seq.status = SeqStatus.FINISHED
        return node

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    # -- one step --------------------------------------------------------------------------
    def schedule(self) -> Batch | None:
        """The next step's batch, or ``None`` when nothing can run (see ``stats.failed``)."""
        budget = self.max_batch_tokens
        picked: list[tuple[Sequence, int]] = []
        picked_ids: set[int] = set()
        preempted = False
        # Decodes first (one token each, they never starve behind long prefill chunks), then
        # unfinished prefills; both oldest first.
        for seq in sorted(self.running, key=lambda s: s.is_prefilling):
            if budget <= 0:
                break
            if seq.status is not SeqStatus.RUNNING:
                continue  # preempted a moment ago to make room for an older sequence
            n = min(seq.num_tokens - seq.num_computed, budget)
            while not self._reserve(seq, seq.num_computed + n):
                # The newest sequence not already in this step gives its blocks back.
                victim = next(s for s in reversed(self.running) if s.seq_id not in picked_ids)
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    break
            else:
                picked.append((seq, n))
                picked_ids.add(seq.seq_id)
                budget -= n
        if not preempted:
            budget = self._admit(budget, picked)
        if not picked:
            if self.waiting and not self.running and not preempted:
                # Everything evictable is gone and the first candidate still does not fit.
                self.stats.failed.append(self.waiting.pop(0))
            return None
        picked.sort(key=lambda p: p[1] != 1)  # decodes first (stable)
        return Batch([s for s, _ in picked], [n for _, n in picked],
                     sum(1 for _, n in picked if n == 1))

    def postprocess(self, batch: Batch) -> None:
        """Record the step's computed tokens and hand newly full blocks to the radix cache."""
        for seq, n in zip(batch.seqs, batch.counts):
            seq.num_computed += n
            self._cache_full_blocks(seq)

    # -- internals -------------------------------------------------------------------------
    def _reserve(self, seq: Sequence, num_tokens: int) -> bool:
        """Make ``seq``'s block table cover ``num_tokens`` tokens, evicting cache if needed."""
        need = self.blocks_for(num_tokens) - len(seq.block_table)
        if need <= 0:
            return True
        short = need - self.pool.num_free
        if short > 0 and self.radix.evict(short) < short:
            return False
        seq.block_table.extend(self.pool.allocate(need))
        return True

    def _release(self, seq: Sequence) -> None:
        if seq.node is not None:
            self.radix.unlock(seq.node)
        self.pool.free(seq.block_table[seq.num_tree_blocks:])
        seq.node, seq.block_table, seq.num_tree_blocks, seq.num_computed = None, [], 0, 0

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self._release(seq)
        seq.status = SeqStatus.WAITING
        self.waiting.insert(0, seq)
        self._sorted = False
        self.stats.preemptions += 1

    def _cache_full_blocks(self, seq: Sequence) -> None:
        full = seq.num_computed // self.block_size
        start = seq.num_tree_blocks
        if full <= start:
            return
        parent = seq.node if seq.node is not None else self.radix.root
        node, tree_blocks = self.radix.insert(parent, seq.block_keys(full)[start:],
                                              seq.block_table[start:full], evictable=False)
        dupes = [own for own, kept in zip(seq.block_table[start:full], tree_blocks) if own != kept]
        if dupes:  # someone cached the same tokens first: share theirs, drop ours
            seq.block_table[start:full] = tree_blocks
            self.pool.free(dupes)
        if seq.node is None:
            self.radix.lock(node)
        else:
            self.radix.move_lock(seq.node, node)
        seq.node, seq.num_tree_blocks = node, full

    def _order_waiting(self) -> None:
        if not self.cache_aware:
            return
        if not self._sorted:
            self.waiting.sort(key=lambda s: s.token_ids)
            self._sorted = True
        bs = self.block_size
        hits = {s.seq_id: self.radix.match_length(s.block_keys(s.num_tokens // bs))
                for s in self.waiting}
        self.waiting.sort(key=lambda s: -hits[s.seq_id])  # stable: keeps the depth-first order

    def _admit(self, budget: int, picked: list[tuple[Sequence, int]]) -> int:
        if not self.waiting or budget <= 0 or len(self.running) >= self.max_num_seqs:
            return budget
        self._order_waiting()
        bs = self.block_size
        pending = _InFlight()
        for running in self.running:
            pending.add(running, running.num_tree_blocks, running.num_tokens // bs)
        admitted: list[Sequence] = []
        reserve = sum(self._growth_reserve(s) for s in self.running)
        for seq in self.waiting:
            if budget <= 0 or len(self.running) >= self.max_num_seqs:
                break
            full = seq.num_tokens // bs
            blocks, node = self.radix.match(seq.block_keys(full))
            matched, start = len(blocks), len(blocks) * bs
            source, m = self._copy_source(seq, node, matched)
            if self.dedupe_prefixes and start < seq.num_tokens:
                shared = pending.shared(seq, matched, seq.token_ids[start:start + bs])
                if shared == bs:
                    continue  # another request is computing this block right now: wait for it
                if (self.partial_blocks and not seq.waited_partial
                        and min(shared, seq.num_tokens - 1 - start) > m):
                    # ... or a block sharing more of our next tokens than the cache has. Only
                    # once: in depth-first order each request shares most with the one before
                    # it, and waiting on each in turn would admit one request per step.
                    seq.waited_partial = True
                    continue
            if source is node:  # fully cached: the last block is copied, not shared
                matched -= 1
                blocks.pop()
                node = node.parent  # type: ignore[assignment]
            placed = self._place(seq, node, blocks, source, m, budget, reserve)
            if placed is None and source is not None:
                # The pool is short by the block the source holds: compute those tokens.
                placed = self._place(seq, node, blocks, None, 0, budget, reserve)
            if placed is None:
                break
            n, own = placed
            reserve += own
            if not seq.admitted:
                seq.admitted = True
                seq.num_cached_tokens = seq.num_computed
                self.stats.cached_tokens += seq.num_computed
            seq.prefill_end = seq.num_tokens
            seq.status = SeqStatus.RUNNING
            self.running.append(seq)
            admitted.append(seq)
            picked.append((seq, n))
            budget -= n
            pending.add(seq, matched, full)
        if admitted:
            gone = {s.seq_id for s in admitted}
            self.waiting = [s for s in self.waiting if s.seq_id not in gone]
        return budget

    def _growth_reserve(self, seq: Sequence) -> int:
        """Blocks to keep free for ``seq`` to grow into: a fraction of what its prompt and
        ``max_tokens`` could still take (admitting into the last free block only to preempt
        a step later wastes the prefill)."""
        total = seq.num_tokens if seq.prefill_only else seq.num_prompt_tokens + seq.max_new_tokens
        growth = self.blocks_for(total) - len(seq.block_table)
        return max(0, -(-growth * _GROWTH_RESERVE_PERCENT // 100))

    def _place(self, seq: Sequence, node: RadixNode, blocks: list[int], source: RadixNode | None,
               m: int, budget: int, reserve: int) -> tuple[int, int] | None:
        """Give ``seq`` the cached ``blocks`` (ending at ``node``), ``m`` tokens copied from
        ``source`` and private blocks for its next chunk. Returns (chunk, growth reserve), or
        ``None``, holding nothing, when the pool cannot take it now."""
        self.radix.lock(node)
        matched = len(blocks)
        seq.node, seq.block_table, seq.num_tree_blocks = node, list(blocks), matched
        seq.num_computed = matched * self.block_size + m
        n = min(seq.num_tokens - seq.num_computed, budget)
        own = 0
        if source is not None:
            self.radix.lock(source)  # _reserve may evict: keep the source until copied
        fits = self._reserve(seq, seq.num_computed + n) and not (
            self.running and self.pool.num_free + self.radix.num_evictable
            < reserve + (own := self._growth_reserve(seq)))
        if source is not None:
            if fits:
                self.pool.copy_slots(source.block, seq.block_table[matched], m)
            self.radix.unlock(source)
        if not fits:
            self._release(seq)
            return None
        return n, own

    def _copy_source(self, seq: Sequence, node: RadixNode, matched: int
                      ) -> tuple[RadixNode | None, int]:
        """The cached block to copy ``seq``'s next tokens from, and how many: a child of
        ``node`` (the last of ``matched`` cached full blocks) sharing ``m`` leading tokens
        with ``seq`` past them. When every block of ``seq`` is cached, ``node`` itself: its
        first ``block_size - 1`` tokens (the last prompt token is always computed)."""
        bs = self.block_size
        start = matched * bs
        if start == seq.num_tokens:
            return node, bs - 1
        if not self.partial_blocks:
            return None, 0
        source, m = self.radix.best_child(node, seq.token_ids[start:start + bs])
        m = min(m, seq.num_tokens - 1 - start)
        return (source, m) if m > 0 else (None, 0)

    def _cache_tail(self, seq: Sequence) -> RadixNode | None:
        """Give the computed part of ``seq``'s last, partial block to the radix cache as a
        partial leaf (or find the cached block that already starts with it); that node."""
        bs, start = self.block_size, seq.num_tree_blocks
        used = seq.num_computed - start * bs
        if not self.partial_blocks or not 0 < used < bs:
            return None
        parent = seq.node if seq.node is not None else self.radix.root
        key = tuple(seq.token_ids[start * bs:seq.num_computed])
        node, taken = self.radix.insert_partial(parent, key, seq.block_table[start])
        if taken:
            del seq.block_table[start]  # the tree owns it now: _release must not free it
        return node
