"""Prefix-affinity routing: which engine replica answers each request of a batch.

A batch arrives in the depth-first order of its prompts' prefix tree (sorted token ids). The
router cuts that tree into *units*: subtrees whose estimated work (distinct prompt tokens plus
decode tokens) is at most a fraction of a replica's fair share, descending only into subtrees
too large to stay whole. Each unit goes to one replica, so a prefix shared inside a unit is
prefilled once. The load bound: no replica's queued work above ``load_bound`` times the mean,
counting the batch being routed (and, for each replica, the units still to come that it
holds). Among the replicas under the bound, those below the mean first, a unit goes to:

1. the replica already holding the longest part of the unit's prefix (the
   :class:`PrefixDirectory` remembers what was sent where, this batch's earlier units
   included), when that is a KV block more than every prompt of the batch shares: siblings of
   a split subtree fill one replica before spilling to the next, and a later stage's prompts
   follow the earlier prompts they extend;
2. else the first in the rendezvous-hash order of the unit's prefix: stable across calls and
   processes, and it spreads a stage's independent subtrees evenly, so the subsets of them that
   later stages extend are spread too;
3. with no replica under the bound (the unit alone is too large), the one it leaves least
   loaded, counting what that replica already holds of the prefix.

Why routing cannot change an answer: a replica is the same engine with the same model and
greedy or seeded sampling, so a request's completion does not depend on where it ran (only how
much of its prefill was cached).

>>> router = AffinityRouter(num_replicas=2, block_size=2)
>>> a = router.route([(1, 2, 3, 4), (1, 2, 3, 5), (7, 8, 9, 9)], [1, 1, 1])
>>> a.replicas[0] == a.replicas[1]  # the shared prefix (1, 2, 3) stays on one replica
True
"""

from __future__ import annotations

import bisect
import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from heliumsql.engine.prefix import common_prefix

Tokens = tuple[int, ...]
DEFAULT_LOAD_BOUND = 1.25
# Units are at most mean/_UNITS_PER_SHARE: small enough to pack under the bound, large enough
# that few shared prefixes are cut.
_UNITS_PER_SHARE = 4


@dataclass(frozen=True)
class Unit:
    """One subtree of a batch: its requests (positions in the batch), their shared prefix and
    their estimated work (distinct prompt tokens plus decode tokens)."""

    indices: tuple[int, ...]
    prefix: Tokens
    cost: int


@dataclass(frozen=True)
class Assignment:
    """Where each request of a batch goes, and the load it added there (for :meth:`release`)."""

    replicas: tuple[int, ...]
    costs: tuple[float, ...]


class PrefixDirectory:
    """What each replica was sent (prompts and pinned prefixes), to find the replica holding
    the longest prefix of new prompts. A sorted list per replica: the member sharing the
    longest prefix with a query is next to where the query sorts. The oldest entries are
    forgotten past ``max_entries`` per replica (the replica's own cache has a budget too).

    >>> d = PrefixDirectory(2); d.add(1, (5, 6, 7))
    >>> d.match(1, (5, 6, 9)), d.match(0, (5, 6, 9))
    (2, 0)
    """

    def __init__(self, num_replicas: int, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._sorted: list[list[Tokens]] = [[] for _ in range(num_replicas)]
        self._age: list[deque[Tokens]] = [deque() for _ in range(num_replicas)]

    def add(self, replica: int, tokens: Sequence[int]) -> None:
        key = tuple(tokens)
        entries = self._sorted[replica]
        i = bisect.bisect_left(entries, key)
        if i < len(entries) and entries[i] == key:
            return
        entries.insert(i, key)
        self._age[replica].append(key)
        if len(entries) > self.max_entries:
            old = self._age[replica].popleft()
            del entries[bisect.bisect_left(entries, old)]

    def match(self, replica: int, tokens: Sequence[int]) -> int:
        """How many leading ``tokens`` some entry sent to ``replica`` shares."""
        entries, key = self._sorted[replica], tuple(tokens)
        i = bisect.bisect_left(entries, key)
        return max((common_prefix(e, key) for e in entries[max(0, i - 1):i + 1]), default=0)

    def size(self, replica: int) -> int:
        return len(self._sorted[replica])

    def forget(self, replica: int) -> None:
        """``replica`` is gone (or restarted): it holds nothing."""
        self._sorted[replica].clear()
        self._age[replica].clear()


def split_units(prompts: Sequence[Sequence[int]], decode: Sequence[int], cap: float) -> list[Unit]:
    """Cut the prefix tree of ``prompts`` into subtrees of estimated work at most ``cap``
    (a single prompt may exceed it), in depth-first order.

    >>> [u.indices for u in split_units([(1, 2, 3), (1, 2, 4), (9, 9)], [0, 0, 0], cap=4)]
    [(0, 1), (2,)]
    """
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    seqs = [tuple(prompts[i]) for i in order]
    # shared[k]: tokens prompt k shares with prompt k-1 (sorted); a run's common prefix is the
    # minimum over it, and its distinct tokens are the lengths less those overlaps.
    shared = [0] + [common_prefix(seqs[k - 1], seqs[k]) for k in range(1, len(seqs))]
    units: list[Unit] = []
    # new[k]: what prompt k adds to the trie of the ones before it, plus its decode tokens; a
    # run's work is their sum less its first prompt's overlap (outside the run).
    sums = [0]
    for k, seq in enumerate(seqs):
        sums.append(sums[-1] + len(seq) - shared[k] + decode[order[k]])

    def cost(lo: int, hi: int) -> int:
        return sums[hi] - sums[lo] + shared[lo]

    def visit(lo: int, hi: int) -> None:
        depth = min(shared[lo + 1:hi], default=len(seqs[lo]))
        if hi - lo == 1 or cost(lo, hi) <= cap:
            units.append(Unit(tuple(order[lo:hi]), seqs[lo][:depth], cost(lo, hi)))
            return
        start = lo  # children: maximal runs whose neighbours share more than ``depth``
        for k in range(lo + 1, hi + 1):
            if k == hi or shared[k] <= depth:
                visit(start, k)
                start = k

    if seqs:
        visit(0, len(seqs))
    return units


def rendezvous(key: Sequence[int], replicas: Iterable[int]) -> list[int]:
    """``replicas`` in the highest-random-weight order of ``key``: stable for a key, and
    removing a replica leaves the others' order unchanged.

    >>> rendezvous((1, 2), [0, 1, 2]) == rendezvous((1, 2), [2, 1, 0])
    True
    """
    data = b",".join(str(t).encode() for t in key)

    def weight(r: int) -> bytes:
        return hashlib.blake2b(data + b"|" + str(r).encode(), digest_size=8).digest()

    return sorted(replicas, key=weight, reverse=True)


class AffinityRouter:
    """Prefix-affinity routing with a load bound (see the module docstring).

    ``loads`` are the replicas' queued tokens: :meth:`route` adds each request's estimate,
    :meth:`release` takes it off when the request finishes. ``alive`` replicas only are
    chosen (:meth:`remove` drops a dead one).
    """

    def __init__(self, num_replicas: int, block_size: int = 16,
                 load_bound: float = DEFAULT_LOAD_BOUND) -> None:
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        self.num_replicas, self.block_size = num_replicas, block_size
        self.load_bound = load_bound
        self.loads = [0.0] * num_replicas
        self.alive = set(range(num_replicas))
        self.directory = PrefixDirectory(num_replicas)

    def route(self, prompts: Sequence[Sequence[int]], decode: Sequence[int]) -> Assignment:
        """A replica for each of ``prompts`` (``decode``: each one's ``max_tokens``)."""
        alive = sorted(self.alive)
        if not alive:
            raise ValueError("no replica is alive")
        share = (sum(self.loads[r] for r in alive) + self._work(prompts, decode)) / len(alive)
        units = split_units(prompts, decode, cap=max(share / _UNITS_PER_SHARE, 1.0))
        replicas: list[int] = [0] * len(prompts)
        costs: list[float] = [0.0] * len(prompts)
        # A unit whose prefix a replica holds from earlier calls is expected there: counting it
        # before it is placed keeps its holder from looking idle early in the depth-first order
        # and taking units it will then have no room for.
        expected = [0.0] * self.num_replicas
        holders: dict[int, tuple[int, float]] = {}
        floor = common_prefix(min(map(tuple, prompts)), max(map(tuple, prompts)))
        for k, unit in enumerate(units):
            held = {r: self.directory.match(r, unit.prefix) for r in alive}
            r = max(alive, key=lambda x: (held[x], -x))
            if self._worth(held[r], floor, unit.prefix):
                holders[k] = (r, max(unit.cost - held[r], 1))
                expected[r] += holders[k][1]
        for k, unit in enumerate(units):
            if k in holders:
                expected[holders[k][0]] -= holders[k][1]
            r = self.place(unit.prefix, unit.cost, share, expected, floor)
            held = self.directory.match(r, unit.prefix)
            per_request = max(unit.cost - held, len(unit.indices)) / len(unit.indices)
            for i in unit.indices:
                replicas[i], costs[i] = r, per_request
                self.directory.add(r, prompts[i])
            self.loads[r] += per_request * len(unit.indices)
        return Assignment(tuple(replicas), tuple(costs))

    def _work(self, prompts: Sequence[Sequence[int]], decode: Sequence[int]) -> int:
        """The batch's work if well routed: each prompt computes what neither an earlier prompt
        of the batch (its sorted predecessor) nor some replica already has, then decodes."""
        work, previous = 0, ()
        for k in sorted(range(len(prompts)), key=lambda i: tuple(prompts[i])):
            prompt = tuple(prompts[k])
            held = max(self.directory.match(r, prompt) for r in self.alive)
            work += len(prompt) - max(held, common_prefix(previous, prompt)) + decode[k]
            previous = prompt
        return max(work, 1)

    def _worth(self, held: int, floor: int, prefix: Sequence[int]) -> bool:
        """Whether a replica holding ``held`` tokens of ``prefix`` should get its subtree: it
        holds a block more than the ``floor`` every prompt of the batch shares (that much every
        replica computes once; following it would pile all of a stage's subtrees on one
        replica, and the later stages extending them too), or all of ``prefix``."""
        return held > floor and (held >= floor + self.block_size or held == len(prefix))

    def place(self, prefix: Sequence[int], cost: float, share: float | None = None,
              expected: Sequence[float] | None = None, floor: int = 0) -> int:
        """The replica for a subtree with shared ``prefix`` and work ``cost`` (also where a
        pin of ``prefix`` goes; the caller records it in the directory). ``expected``: work
        each replica will get later in the batch, counted as load; ``floor``: see ``_worth``."""
        alive = sorted(self.alive)
        if share is None:
            share = (sum(self.loads[r] for r in alive) + cost) / len(alive)
        limit = self.load_bound * share
        load = {r: self.loads[r] + (expected[r] if expected else 0.0) for r in alive}
        # What the subtree adds to a replica: less the part of its prefix already there.
        held = {r: self.directory.match(r, prefix) for r in alive}
        after = {r: load[r] + max(cost - held[r], 1) for r in alive}
        under = [r for r in alive if after[r] <= limit]
        if not under:  # over the bound everywhere: where it ends the least loaded
            return min(alive, key=lambda r: (after[r], r))
        best = max(held[r] for r in under)
        if self._worth(best, floor, prefix):  # siblings may take their holder past the mean
            return min((r for r in under if held[r] == best), key=lambda r: (load[r], r))
        # A new subtree goes to a replica still below the mean: one filled to the bound with a
        # stage's subtrees would hold too many of the prefixes later stages extend, and those
        # stages would be unbalanced.
        roomy = [r for r in under if load[r] < share] or under
        return rendezvous(tuple(prefix), roomy)[0]

    def release(self, replica: int, cost: float) -> None:
        """A request routed to ``replica`` finished (or was moved): its load is gone."""
        self.loads[replica] = max(0.0, self.loads[replica] - cost)

    def remove(self, replica: int) -> None:
        """``replica`` died: route nothing more to it and forget what it held."""
        self.alive.discard(replica)
        self.loads[replica] = 0.0
        self.directory.forget(replica)
