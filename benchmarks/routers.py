"""The routers prefix-affinity routing is compared with (benchmarks/routing.py).

Each has the interface of :class:`~heliumsql.backends.routing.AffinityRouter`: ``route(prompts,
decode) -> Assignment`` and ``release(replica, cost)``.

- :class:`RoundRobinRouter`: request i goes to replica i mod N (what a plain load balancer does);
- :class:`LeastLoadedRouter`: each request to the replica with the fewest queued tokens;
- :class:`CacheAwareRouter`: SGLang router's cache-aware policy, request by request: while the
  replicas are balanced, the replica whose approximate prefix tree matches the most of the
  prompt if the match rate exceeds ``cache_threshold``, else the replica with the smallest
  tree; when unbalanced (max - min queued requests above ``balance_abs`` and max above
  ``balance_rel`` times min) the replica with the fewest queued requests.

>>> RoundRobinRouter(2).route([(1,), (2,), (3,)], [0, 0, 0]).replicas
(0, 1, 0)
"""

from __future__ import annotations

from collections.abc import Sequence

from heliumsql.backends.routing import Assignment, PrefixDirectory


class RoundRobinRouter:
    def __init__(self, num_replicas: int) -> None:
        self.num_replicas, self._next = num_replicas, 0

    def route(self, prompts: Sequence[Sequence[int]], decode: Sequence[int]) -> Assignment:
        replicas = tuple((self._next + i) % self.num_replicas for i in range(len(prompts)))
        self._next = (self._next + len(prompts)) % self.num_replicas
        return Assignment(replicas, tuple(float(len(p) + d) for p, d in zip(prompts, decode)))

    def release(self, replica: int, cost: float) -> None:
        pass


class LeastLoadedRouter:
    def __init__(self, num_replicas: int) -> None:
        self.loads = [0.0] * num_replicas

    def route(self, prompts: Sequence[Sequence[int]], decode: Sequence[int]) -> Assignment:
        replicas, costs = [], []
        for prompt, d in zip(prompts, decode):
            r = min(range(len(self.loads)), key=lambda i: (self.loads[i], i))
            cost = float(len(prompt) + d)
            self.loads[r] += cost
            replicas.append(r)
            costs.append(cost)
        return Assignment(tuple(replicas), tuple(costs))

    def release(self, replica: int, cost: float) -> None:
        self.loads[replica] = max(0.0, self.loads[replica] - cost)


class CacheAwareRouter:
    """SGLang router's cache-aware policy (its defaults: cache threshold 0.5, balance
    thresholds 32 requests and 1.0001x)."""

    def __init__(self, num_replicas: int, cache_threshold: float = 0.5, balance_abs: int = 32,
                 balance_rel: float = 1.0001) -> None:
        self.queued = [0] * num_replicas
        self.tree = PrefixDirectory(num_replicas, max_entries=1 << 30)
        self.tokens = [0] * num_replicas  # the size of each approximate tree
        self.cache_threshold, self.balance_abs, self.balance_rel = \
            cache_threshold, balance_abs, balance_rel

    def route(self, prompts: Sequence[Sequence[int]], decode: Sequence[int]) -> Assignment:
        replicas = []
        n = range(len(self.queued))
        for prompt in prompts:
            hi, lo = max(self.queued), min(self.queued)
            if hi - lo > self.balance_abs and hi > lo * self.balance_rel:
                r = min(n, key=lambda i: (self.queued[i], i))
            else:
                match = [self.tree.match(i, prompt) for i in n]
                best = max(n, key=lambda i: (match[i], -i))
                if match[best] / max(len(prompt), 1) > self.cache_threshold:
                    r = best
                else:
                    r = min(n, key=lambda i: (self.tokens[i], i))
            self.tokens[r] += len(prompt) - self.tree.match(r, prompt)
            self.tree.add(r, prompt)
            self.queued[r] += 1
            replicas.append(r)
        return Assignment(tuple(replicas), (1.0,) * len(prompts))

    def release(self, replica: int, cost: float) -> None:
        self.queued[replica] = max(0, self.queued[replica] - int(cost))
