"""Prefix-affinity routing (heliumsql.backends.routing): subtrees stay whole, the load bound
holds, choices are stable across calls, dead replicas get nothing."""

from __future__ import annotations

import random

from heliumsql.backends.routing import AffinityRouter, split_units
from benchmarks.prefix_tree import distinct_prompt_tokens


def _skewed(seed: int = 0) -> list[tuple[int, ...]]:
    """One hot template shared by 200 prompts, and 20 prompts of their own."""
    rng = random.Random(seed)
    hot = tuple(range(1000, 1200))
    prompts = [hot + tuple(rng.randrange(50) for _ in range(40)) for _ in range(200)]
    prompts += [tuple(rng.randrange(50, 100) for _ in range(240)) for _ in range(20)]
    rng.shuffle(prompts)
    return prompts


def test_units_cover_every_request_once_and_respect_the_cap() -> None:
    prompts = _skewed()
    units = split_units(prompts, [8] * len(prompts), cap=2000)
    assert sorted(i for u in units for i in u.indices) == list(range(len(prompts)))
    for u in units:
        assert len(u.indices) == 1 or u.cost <= 2000
        assert all(tuple(prompts[i][:len(u.prefix)]) == u.prefix for i in u.indices)


def test_load_bound_holds_on_a_skewed_workload() -> None:
    prompts = _skewed()
    for n in (2, 4, 8):
        router = AffinityRouter(n, block_size=16)
        router.route(prompts, [8] * len(prompts))
        mean = sum(router.loads) / n
        assert max(router.loads) <= 1.25 * mean, (n, router.loads)


def test_affinity_computes_shared_prefixes_once_per_replica_used() -> None:
    prompts = _skewed()
    n = 4
    a = AffinityRouter(n, block_size=16).route(prompts, [0] * len(prompts))
    per_replica = sum(distinct_prompt_tokens([p for p, r in zip(prompts, a.replicas) if r == k])
                      for k in range(n))
    # The hot template (200 tokens) is duplicated at most once per replica.
    assert per_replica <= distinct_prompt_tokens(prompts) + (n - 1) * 200


def test_a_prefix_returns_to_the_replica_holding_it() -> None:
    router = AffinityRouter(4, block_size=4)
    first = router.route([tuple(range(100)) + (1,)], [4]).replicas[0]
    for r, c in enumerate(router.loads):
        router.release(r, c)
    later = router.route([tuple(range(100)) + (2, 3)], [4]).replicas[0]
    assert later == first
    # A fresh router (another driver process) picks the same replica by the stable hash.
    assert AffinityRouter(4, block_size=4).route([tuple(range(100)) + (1,)], [4]).replicas[0] == first


def test_a_removed_replica_gets_nothing() -> None:
    router = AffinityRouter(3, block_size=16)
    router.remove(1)
    assignment = router.route(_skewed(), [8] * 220)
    assert 1 not in assignment.replicas and set(assignment.replicas) == {0, 2}
