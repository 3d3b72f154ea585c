"""benchmarks/routing.py without the model: the simulated replicas count prefill as the engine's
radix cache does, and on a workload with per-group sharing prefix-affinity routing keeps the
sharing that round-robin loses, within the load bound."""

from __future__ import annotations

import random

from benchmarks.routing import Batch, SimReplica, ceiling, simulate


def _groups(num_groups: int = 32, per_group: int = 6, seed: int = 0) -> dict[str, list[Batch]]:
    """A template, then per group a 200-token document and per request a 20-token question."""
    rng = random.Random(seed)
    template = tuple(range(500, 540))
    prompts = []
    for _ in range(num_groups):
        doc = tuple(rng.randrange(100) for _ in range(200))
        prompts += [template + doc + tuple(rng.randrange(100) for _ in range(20))
                    for _ in range(per_group)]
    return {"groups": [Batch(tuple(sorted(prompts)), (8,) * len(prompts))]}


def test_a_replica_computes_only_what_it_has_not_cached() -> None:
    replica = SimReplica(num_blocks=64, block_size=4)
    assert replica.serve(tuple(range(10))) == 10
    assert replica.serve(tuple(range(10)) + (99, 98)) == 2  # reuses all 10, partial block too
    assert replica.serve(tuple(range(10))) == 1  # the last token is always computed


def test_affinity_keeps_the_sharing_round_robin_loses() -> None:
    sets = _groups()
    rows = {(r.router, r.replicas): r for r in simulate(sets, ["affinity", "round_robin"], [1, 8])}
    assert rows["affinity", 1].efficiency == rows["round_robin", 1].efficiency
    affinity, round_robin = rows["affinity", 8], rows["round_robin", 8]
    assert affinity.efficiency > 0.95 > round_robin.efficiency
    assert affinity.efficiency <= ceiling(sets, 8)
    assert affinity.load_ratio <= 1.25
