"""Random workloads through the real pool, radix cache and scheduler (the model is faked):
no block leaks or has two owners, lock counts add up and return to zero, pins are never evicted.

The fake model writes each token's (token id, position) as its K, so the pool's contents can
be checked: every computed token of a running request, and every token a cache node (full or
partial) claims, holds exactly its own K/V: copies from partial matches are right, and no
step ever writes into a block the cache shares."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.prefix import common_prefix
from heliumsql.engine.radix import RadixCache, RadixNode, chain_keys
from heliumsql.engine.sampling import SamplingParams
from heliumsql.engine.scheduler import Scheduler
from heliumsql.engine.sequence import Sequence, SeqStatus
from heliumsql.errors import EngineError

BASES = [[1, 2, 3, 1, 2, 3, 1, 2], [1, 2, 3, 3], [2, 2, 2, 2, 2, 2], [3]]
tokens = st.lists(st.integers(1, 3), max_size=8)
HOOKS = {"lru": None, "length": lambda t: float(len(t) % 3), "parity": lambda t: float(sum(t) % 2)}


def full_ranking_victim(radix: RadixCache) -> RadixNode | None:
    """The block eviction took before it kept a heap: every unlocked leaf ranked afresh by
    (priority, last use, id), lowest first."""
    leaves = [n for n in radix.nodes() if not n.children and n.lock_ref == 0]
    hook = radix.priority
    return min(leaves, default=None,
               key=lambda n: (hook(n.tokens()) if hook else 0.0, n.last_access, id(n)))


class EngineModel(RuleBasedStateMachine):
    """Drives the scheduler like ``Engine._step`` does, with random tokens for the model."""

    @initialize(num_blocks=st.integers(8, 40), block_size=st.sampled_from([1, 2, 3, 4]),
                budget=st.integers(1, 24), seed=st.integers(0, 2**16))
    def setup(self, num_blocks: int, block_size: int, budget: int, seed: int) -> None:
        self.pool = KVPool(1, num_blocks, block_size, 1, 2)
        self.radix = RadixCache(self.pool)
        self.sched = Scheduler(self.pool, self.radix, block_size, budget, max_num_seqs=6)
        self.bs = block_size
        self.rng = random.Random(seed)
        self.active: list[Sequence] = []
        self.pins: list[RadixNode] = []
        self.pin_seqs: list[Sequence] = []
        self.stamps: list[int] = []

    @rule(base=st.sampled_from(BASES), tail=tokens, max_new=st.integers(1, 6),
          prefill_only=st.booleans())
    def add(self, base: list[int], tail: list[int], max_new: int, prefill_only: bool) -> None:
        seq = Sequence(base + tail, SamplingParams(), max_new, self.bs, prefill_only=prefill_only)
        try:
            self.sched.add(seq)
        except EngineError:
            return  # larger than the whole pool: refused up front, nothing held
        (self.pin_seqs if prefill_only else self.active).append(seq)

    @rule()
    def step(self) -> None:
        batch = self.sched.schedule()
        if batch is None:
            for seq in self.sched.stats.failed:
                seq.status = SeqStatus.FINISHED
                self._forget(seq)
            self.sched.stats.failed.clear()
            return
        sampled = [s for s, n in zip(batch.seqs, batch.counts)
                   if s.num_computed + n == s.num_tokens and not s.prefill_only]
        for seq, n in zip(batch.seqs, batch.counts):
            for pos in range(seq.num_computed, seq.num_computed + n):
                index = pos // self.bs
                assert index >= seq.num_tree_blocks, "a step would write into a shared block"
                self.pool.k[0, seq.block_table[index], pos % self.bs, 0] = \
                    torch.tensor([seq.token_ids[pos], pos])
        self.sched.postprocess(batch)
        for seq in sampled:
            seq.token_ids.append(self.rng.randint(1, 3))
            if seq.num_generated >= seq.max_new_tokens:
                self.sched.finish(seq)
                self._forget(seq)
        for seq in batch.seqs:
            if seq.prefill_only and seq.num_computed == seq.num_tokens:
                node = self.sched.finish(seq, keep_lock=True)
                self._forget(seq)
                if node is not None and node is not self.radix.root:
                    self.pins.append(node)

    @precondition(lambda self: self.active)
    @rule(data=st.data())
    def abort(self, data: st.DataObject) -> None:
        seq = data.draw(st.sampled_from(self.active))
        self.sched.abort(seq)
        self._forget(seq)

    @rule(base=st.sampled_from(BASES), tail=tokens)
    def pin_cached(self, base: list[int], tail: list[int]) -> None:
        """Pin the cached part of a prompt like ``Engine.pin``'s fast path: its full blocks and
        the partial (or full) block below them that starts with the rest, if any."""
        ids = base + tail
        blocks, node = self.radix.match(list(chain_keys(ids, self.bs)))
        rest = ids[len(blocks) * self.bs:]
        child, shared = self.radix.best_child(node, rest) if rest else (None, 0)
        if child is not None and shared == len(rest) and len(rest) < self.bs:
            node = child
        if node is not self.radix.root:
            self.radix.lock(node)
            self.pins.append(node)

    @precondition(lambda self: self.pins)
    @rule(data=st.data())
    def unpin(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.pins))
        self.pins.remove(node)
        self.radix.unlock(node)

    @rule(hook=st.sampled_from(sorted(HOOKS)))
    def set_hook(self, hook: str) -> None:
        self.radix.priority = HOOKS[hook]

    @rule()
    def evict_one(self) -> None:
        """Eviction takes the block the full ranking picks, and only that one."""
        want = full_ranking_victim(self.radix)
        before = set(self.radix.nodes())
        assert self.radix.evict(1) == (want is not None)
        assert before - set(self.radix.nodes()) == ({want} if want is not None else set())

    @rule(base=st.sampled_from(BASES), tail=tokens, data=st.data())
    def cached_length_matches_a_full_scan(self, base: list[int], tail: list[int],
                                          data: st.DataObject) -> None:
        """Token-granular cached length, also counting only nodes older than a stamp."""
        ids = base + tail
        self.stamps.append(self.radix.stamp())
        before = data.draw(st.sampled_from([None, *self.stamps]))
        node, n, bs = self.radix.root, 0, self.bs

        def old(child: RadixNode) -> bool:
            return before is None or child.born < before

        while n + bs <= len(ids) and (child := node.children.get(tuple(ids[n:n + bs]))) \
                and old(child):
            node, n = child, n + bs
        rest = ids[n:n + bs]
        shared = [common_prefix(key, rest) for key, c in node.children.items() if old(c)]
        assert self.radix.cached_length(ids, before) == n + max(shared, default=0)

    def _forget(self, seq: Sequence) -> None:
        for group in (self.active, self.pin_seqs):
            if seq in group:
                group.remove(seq)

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def every_block_has_exactly_one_owner(self) -> None:
        owners: dict[int, str] = {}

        def own(block: int, who: str) -> None:
            assert block not in owners, f"block {block} owned by {owners[block]} and {who}"
            owners[block] = who

        for b in range(self.pool.num_blocks):
            if self.pool.is_free(b):
                own(b, "free list")
        assert len(owners) == self.pool.num_free
        for node in self.radix.nodes():
            own(node.block, "radix")
        for seq in self.sched.running:
            for b in seq.block_table[seq.num_tree_blocks:]:
                own(b, f"seq {seq.seq_id}")
        assert sorted(owners) == list(range(self.pool.num_blocks)), "a block leaked"

    @invariant()
    def sequences_agree_with_the_tree(self) -> None:
        for seq in self.sched.waiting:
            assert not seq.block_table and seq.node is None and seq.num_computed == 0
        for seq in self.sched.running:
            path, node = [], seq.node
            while node is not None and node is not self.radix.root:
                path.append(node)
                node = node.parent
            path.reverse()
            assert [n.block for n in path] == seq.block_table[:seq.num_tree_blocks]
            assert [n.key for n in path] == seq.block_keys(seq.num_tree_blocks)
            assert seq.num_computed <= len(seq.block_table) * self.bs
            assert seq.num_computed >= seq.num_tree_blocks * self.bs

    @invariant()
    def lock_counts_add_up(self) -> None:
        holders: dict[int, int] = {}
        for seq in self.sched.running:
            if seq.node is not None and seq.node is not self.radix.root:
                holders[id(seq.node)] = holders.get(id(seq.node), 0) + 1
        for node in self.pins:
            holders[id(node)] = holders.get(id(node), 0) + 1
        nodes = list(self.radix.nodes())
        for node in nodes:
            below = sum(c.lock_ref for c in node.children.values())
            assert node.lock_ref == holders.get(id(node), 0) + below
        assert self.radix.num_blocks == len(nodes)
        assert self.radix.num_protected == sum(1 for n in nodes if n.lock_ref)

    @invariant()
    def partial_nodes_are_leaves(self) -> None:
        for node in self.radix.nodes():
            assert 0 < len(node.key) <= self.bs
            assert len(node.key) == self.bs or not node.children, "a partial node has children"
            assert node.order == sorted(node.children)

    @invariant()
    def kv_holds_the_right_tokens(self) -> None:
        k = self.pool.k[0, :, :, 0].tolist()  # [block][offset] -> [token, position]
        for seq in self.sched.running:
            for pos in range(seq.num_computed):
                got = k[seq.block_table[pos // self.bs]][pos % self.bs]
                assert got == [seq.token_ids[pos], pos], f"seq {seq.seq_id} token {pos}: {got}"
        for node in self.radix.nodes():
            start = len(node.tokens()) - len(node.key)
            for i, tok in enumerate(node.key):
                assert k[node.block][i] == [tok, start + i], f"cached block {node.block}, slot {i}"

    @invariant()
    def pinned_prefixes_stay_resident(self) -> None:
        for node in self.pins:
            while node is not self.radix.root:
                assert node.parent.children.get(node.key) is node, "a pinned block was evicted"
                node = node.parent

    def teardown(self) -> None:
        if not hasattr(self, "sched"):
            return
        for seq in list(self.active) + list(self.pin_seqs):
            self.sched.abort(seq)
        for node in self.pins:
            self.radix.unlock(node)
        assert all(n.lock_ref == 0 for n in self.radix.nodes())
        assert self.radix.num_protected == 0
        assert self.pool.num_free + self.radix.num_blocks == self.pool.num_blocks
        self.radix.evict(self.pool.num_blocks)  # nothing is locked: everything can go
        assert self.radix.num_blocks == 0 and self.pool.num_free == self.pool.num_blocks


EngineModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_random_workloads_keep_invariants = EngineModel.TestCase


def test_requests_run_to_completion_under_random_pressure() -> None:
    """Without aborts, every request finishes and the pool ends where it started."""
    rng = random.Random(7)
    pool = KVPool(1, 20, 2, 1, 2)
    radix = RadixCache(pool)
    sched = Scheduler(pool, radix, 2, 7, max_num_seqs=4)
    seqs = [Sequence(rng.choice(BASES) + [rng.randint(1, 3) for _ in range(rng.randint(0, 6))],
                     SamplingParams(), rng.randint(1, 5), 2) for _ in range(60)]
    for seq in seqs:
        sched.add(seq)
    for _ in range(5000):
        if not sched.has_work:
            break
        batch = sched.schedule()
        assert batch is not None and not sched.stats.failed
        sampled = [s for s, n in zip(batch.seqs, batch.counts) if s.num_computed + n == s.num_tokens]
        sched.postprocess(batch)
        for seq in sampled:
            seq.token_ids.append(rng.randint(1, 3))
            if seq.num_generated >= seq.max_new_tokens:
                sched.finish(seq)
    assert all(s.status is SeqStatus.FINISHED for s in seqs)
    assert all(s.num_generated == s.max_new_tokens for s in seqs)
    assert pool.num_free + radix.num_blocks == pool.num_blocks
    assert all(n.lock_ref == 0 for n in radix.nodes())


@pytest.mark.parametrize("hook", [None, "prefer_long"])
def test_eviction_order_is_priority_then_least_recently_used(hook) -> None:  # noqa: ANN001
    pool = KVPool(1, 8, 2, 1, 2)
    radix = RadixCache(pool)
    if hook:
        radix.priority = lambda toks: float(len(toks) == 2 and toks[0] == 9)  # keep (9, 9)
    for first in (7, 8, 9):
        radix.insert(radix.root, [(first, first)], pool.allocate(1))
    radix.match([(7, 7)])  # (7, 7) is now the most recently used
    assert radix.evict(1) == 1
    left = {n.key for n in radix.nodes()}
    assert left == {(7, 7), (9, 9)}
    radix.evict(1)
    assert {n.key for n in radix.nodes()} == ({(9, 9)} if hook else {(7, 7)})


def test_a_new_hook_reranks_blocks_cached_under_the_old_one() -> None:
    pool = KVPool(1, 8, 2, 1, 2)
    radix = RadixCache(pool)
    for first in (7, 8, 9):
        radix.insert(radix.root, [(first, first)], pool.allocate(1))
    radix.priority = lambda toks: float(toks[0] == 7)  # keep (7, 7)
    radix.priority = lambda toks: float(toks[0] != 7)  # now (7, 7) goes first
    assert radix.evict(1) == 1
    assert {n.key for n in radix.nodes()} == {(8, 8), (9, 9)}


def test_eviction_touches_the_front_of_the_heap_only() -> None:
    """An eviction calls the hook for the blocks it takes (and a few stale entries), not for
    every cached block: a full pool does not make each eviction rank the whole cache."""
    pool = KVPool(1, 1100, 1, 1, 2)
    radix = RadixCache(pool)
    calls = []
    radix.priority = lambda toks: calls.append(toks) or 0.0
    for t in range(1000):
        radix.insert(radix.root, [(t,)], pool.allocate(1))
    calls.clear()
    for _ in range(100):
        assert radix.evict(1) == 1
    assert len(calls) <= 2 * 100


def test_caching_a_long_prompt_ranks_its_last_block_only() -> None:
    """Only the end of a newly cached path is an evictable leaf, so only it is ranked: ranking
    every block on the way (each handing its whole prefix to the hook) made caching a prompt
    quadratic in its length."""
    pool = KVPool(1, 200, 2, 1, 2)
    radix = RadixCache(pool)
    calls = []
    radix.priority = lambda toks: calls.append(toks) or 0.0
    keys = list(chain_keys(list(range(160)), 2))
    node, _ = radix.insert(radix.root, keys, pool.allocate(len(keys)))
    assert calls == [tuple(range(160))]
    assert radix.evict(80) == 80  # the whole path still evicts, leaf by leaf


def test_cached_length_finds_the_longest_share_on_either_side_of_the_prompt() -> None:
    pool = KVPool(1, 8, 3, 1, 2)
    radix = RadixCache(pool)
    for key in [(1, 2, 1), (1, 3, 3), (2, 1, 1)]:
        radix.insert(radix.root, [key], pool.allocate(1))
    stamp = radix.stamp()
    radix.insert(radix.root, [(1, 2, 2)], pool.allocate(1))  # sorts between (1, 2, 1) and the prompt
    assert radix.cached_length([1, 2, 3]) == 2
    assert radix.cached_length([1, 2, 3], born_before=stamp) == 2  # (1, 2, 1), older, is found
    assert radix.cached_length([1, 3, 0]) == 2 and radix.cached_length([3, 3, 3]) == 0
