"""Scheduling decisions: in-batch prefix dedup, cache-aware order, chunked prefill, preemption."""

from __future__ import annotations

from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.radix import RadixCache
from heliumsql.engine.sampling import SamplingParams
from heliumsql.engine.scheduler import Batch, Scheduler
from heliumsql.engine.sequence import Sequence, SeqStatus

BS = 4


def _sched(num_blocks: int = 64, budget: int = 256, max_seqs: int = 16) -> Scheduler:
    pool = KVPool(1, num_blocks, BS, 1, 2)
    return Scheduler(pool, RadixCache(pool), BS, budget, max_seqs)


def _seq(tokens: list[int], max_new: int = 2) -> Sequence:
    return Sequence(tokens, SamplingParams(), max_new, BS)


def _finish_step(sched: Scheduler, batch: Batch, token: int = 9) -> None:
    """What the engine does after the forward: record progress, append sampled tokens."""
    sampled = [s for s, n in zip(batch.seqs, batch.counts) if s.num_computed + n == s.num_tokens]
    sched.postprocess(batch)
    for seq in sampled:
        seq.token_ids.append(token)
        if seq.num_generated >= seq.max_new_tokens:
            sched.finish(seq)


def test_shared_uncached_prefix_is_computed_once() -> None:
    sched = _sched()
    prefix = list(range(1, 13))  # three full blocks nobody has computed yet
    group = [_seq(prefix + [20 + i, 30 + i]) for i in range(3)]
    other = _seq([50, 51, 52, 53, 54])
    for s in group + [other]:
        sched.add(s)
    first = sched.schedule()
    assert sum(s in group for s in first.seqs) == 1 and other in first.seqs
    computed = sum(first.counts)
    _finish_step(sched, first)
    second = sched.schedule()
    joined = [s for s in second.seqs if s in group and s.num_cached_tokens]
    assert len(joined) == 2 and all(s.num_cached_tokens == 12 for s in joined)
    computed += sum(n for s, n in zip(second.seqs, second.counts) if s in joined)
    distinct = len(prefix) + 3 * 2 + 5
    assert computed == distinct


def test_longest_cached_prefix_is_admitted_first() -> None:
    sched = _sched(max_seqs=1)
    warm = list(range(1, 9))
    first = _seq(warm + [1], max_new=1)
    sched.add(first)
    _finish_step(sched, sched.schedule())  # warm's two blocks are now cached
    cold, hit = _seq([7, 7, 7, 7, 7, 7, 7, 7, 7]), _seq(warm + [5, 5])
    sched.add(cold)
    sched.add(hit)
    batch = sched.schedule()
    assert batch.seqs == [hit] and hit.num_cached_tokens == 8


def test_waiting_requests_are_taken_depth_first_over_their_prefixes() -> None:
    sched = _sched(max_seqs=2)
    for warm in ([1, 1, 1, 1, 0], [3, 3, 3, 3, 0]):  # both first blocks cached: equal hits
        seq = _seq(warm, max_new=1)
        sched.add(seq)
        _finish_step(sched, sched.schedule())
    a1, b1, a2, b2 = (_seq([1, 1, 1, 1, 5]), _seq([3, 3, 3, 3, 5]), _seq([1, 1, 1, 1, 6]),
                      _seq([3, 3, 3, 3, 6]))
    for s in (a1, b1, a2, b2):  # arrival order interleaves the two prefix groups
        sched.add(s)
    assert sched.schedule().seqs == [a1, a2]


def test_long_prompts_are_prefilled_in_chunks_within_the_token_budget() -> None:
    sched = _sched(budget=10)
    seq = _seq(list(range(1, 26)), max_new=1)
    sched.add(seq)
    counts = []
    while seq.status is not SeqStatus.FINISHED:
        batch = sched.schedule()
        counts.append(batch.counts[0])
        _finish_step(sched, batch)
    assert counts == [10, 10, 5]
    # The 24 tokens of full blocks stay cached, and the 25th as a partial leaf below them.
    assert sorted(len(n.key) for n in sched.radix.nodes()) == [1] + [4] * 6


def test_out_of_blocks_preempts_the_newest_and_recomputes_from_cache() -> None:
    sched = _sched(num_blocks=6, max_seqs=4)
    old, new = _seq([1, 2, 3, 4, 5, 6, 7], max_new=8), _seq([9, 9, 9, 9, 8, 8, 8], max_new=8)
    sched.add(old)
    sched.add(new)
    while old.status is not SeqStatus.FINISHED:
        batch = sched.schedule()
        assert old in batch.seqs  # the older request always runs
        _finish_step(sched, batch)
    assert sched.stats.preemptions >= 1
    while new.status is not SeqStatus.FINISHED:
        _finish_step(sched, sched.schedule())
    assert new.num_generated == 8 and sched.pool.num_free + sched.radix.num_blocks == 6


def test_a_partial_match_copies_the_shared_tokens_of_a_finished_requests_tail() -> None:
    sched = _sched()
    first = _seq([1, 2, 3, 4, 5, 6], max_new=1)
    sched.add(first)
    _finish_step(sched, sched.schedule())  # leaves block (1, 2, 3, 4) and the tail (5, 6)
    assert sorted(n.key for n in sched.radix.nodes()) == [(1, 2, 3, 4), (5, 6)]
    second = _seq([1, 2, 3, 4, 5, 7])
    sched.add(second)
    batch = sched.schedule()
    assert batch.counts == [1] and second.num_cached_tokens == 5  # only token 7 is computed
    assert second.block_table[1] != sched.radix.root.children[(1, 2, 3, 4)].children[(5, 6)].block


def test_when_only_the_copy_source_could_be_evicted_the_request_computes_its_tokens() -> None:
    sched = _sched(num_blocks=3)
    first = _seq([1, 2, 3, 4, 5, 6], max_new=1)
    sched.add(first)
    _finish_step(sched, sched.schedule())  # 2 of the 3 blocks cached, the tail evictable
    second = _seq([1, 2, 3, 4, 5, 7, 8, 9, 10])  # needs 2 private blocks: the tail must go
    sched.add(second)
    batch = sched.schedule()
    assert batch is not None and not sched.stats.failed
    assert batch.counts == [5] and second.num_cached_tokens == 4
    assert [n.key for n in sched.radix.nodes()] == [(1, 2, 3, 4)]


def _run_steps(sched: Scheduler, steps: int) -> None:
    for _ in range(steps):
        _finish_step(sched, sched.schedule())


def test_prefix_shared_mid_block_by_requests_admitted_together_is_computed_once() -> None:
    sched = _sched()
    x, y = _seq([1, 2, 3, 7, 7, 7, 7, 7], max_new=4), _seq([1, 2, 3, 8, 8, 8, 8, 8], max_new=4)
    sched.add(x)
    sched.add(y)
    first = sched.schedule()
    assert first.seqs == [x]  # y waits: x's first block will hold 3 of y's tokens
    _finish_step(sched, first)
    second = sched.schedule()
    assert y in second.seqs and y.num_cached_tokens == 3
    assert dict(zip(second.seqs, second.counts))[y] == 5  # 8 + 5 = the 13 distinct tokens


def test_waiting_for_a_partly_shared_block_happens_once_per_request() -> None:
    # Depth-first order: each request shares more with the one before it than with any other.
    a, b, c, d = (_seq([1, 5, 5, 5, 0, 0], 3), _seq([1, 6, 5, 5, 0, 0], 3),
                  _seq([1, 6, 7, 5, 0, 0], 3), _seq([1, 6, 7, 9, 0, 0], 3))
    sched = _sched()
    for s in (a, b, c, d):
        sched.add(s)
    _run_steps(sched, 2)
    assert not sched.waiting  # waiting on each other in turn would have taken four steps
    assert [s.num_cached_tokens for s in (a, b, c, d)] == [0, 1, 1, 1]
