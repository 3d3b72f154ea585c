"""The radix prefix cache: a trie of full KV blocks shared by every request.

Each node is one block of ``block_size`` tokens, keyed by those tokens under its parent, so
the path from the root spells a prompt prefix and lists the blocks that hold its K/V. Only
full blocks enter the tree. A node's ``lock_ref`` counts the holders of it *or of a
descendant* (locking walks to the root), so ``lock_ref == 0`` means the whole subtree is free
to evict; eviction removes unlocked leaves, lowest priority first, then least recently used.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence

from heliumsql.engine.kv_pool import KVPool

BlockKey = tuple[int, ...]
Priority = Callable[[tuple[int, ...]], float]


class RadixNode:
    """One cached block: its tokens (``key``), its pool block and its place in the trie."""

    __slots__ = ("key", "block", "parent", "children", "lock_ref", "last_access")

    def __init__(self, key: BlockKey, block: int, parent: RadixNode | None) -> None:
        self.key, self.block, self.parent = key, block, parent
        self.children: dict[BlockKey, RadixNode] = {}
        self.lock_ref = 0
        self.last_access = 0

    def tokens(self) -> tuple[int, ...]:
        """The whole prefix this node ends (what an eviction-priority hook is given)."""
        keys = []
        node: RadixNode | None = self
        while node is not None and node.parent is not None:
            keys.append(node.key)
            node = node.parent
        return tuple(t for key in reversed(keys) for t in key)


class RadixCache:
    """Block-granular prefix cache over a :class:`KVPool`.

    >>> pool = KVPool(1, 8, 2, 1, 4)
    >>> cache = RadixCache(pool)
    >>> node, _ = cache.insert(cache.root, [(1, 2), (3, 4)], pool.allocate(2))
    >>> blocks, _ = cache.match([(1, 2), (3, 4), (5, 6)]); len(blocks)
    2
    >>> cache.evict(2), pool.num_free
    (2, 8)
    """

    def __init__(self, pool: KVPool, priority: Priority | None = None) -> None:
        self.pool = pool
        self.root = RadixNode((), -1, None)
        self.priority = priority
        self.num_blocks = 0  # blocks held by the tree
        self.num_protected = 0  # tree blocks with lock_ref > 0
        self.num_evicted = 0
        self._evictable: set[RadixNode] = set()  # unlocked leaves
        self._clock = itertools.count(1)

    @property
    def num_evictable(self) -> int:
        return self.num_blocks - self.num_protected

    def match(self, keys: Sequence[BlockKey]) -> tuple[list[int], RadixNode]:
        """Longest cached prefix of ``keys``: its blocks and its deepest node (marked used)."""
        node, blocks, now = self.root, [], next(self._clock)
        for key in keys:
            child = node.children.get(key)
            if child is None:
                break
            child.last_access = now
            blocks.append(child.block)
            node = child
        return blocks, node

    def match_length(self, keys: Sequence[BlockKey]) -> int:
        """How many leading blocks of ``keys`` are cached (does not count as a use)."""
        node, n = self.root, 0
        for key in keys:
            node = node.children.get(key)
            if node is None:
                break
            n += 1
        return n

    def insert(self, node: RadixNode, keys: Sequence[BlockKey], blocks: Sequence[int]
               ) -> tuple[RadixNode, list[int]]:
        """Extend the path below ``node`` with ``keys`` held in ``blocks``.

        Where the tree already has a block for a key (another request computed it first), the
        tree's block wins: the returned list holds the tree's block for every key, and the
        caller frees those of its own blocks that differ.
        """
        out, now = [], next(self._clock)
        for key, block in zip(keys, blocks):
            child = node.children.get(key)
            if child is None:
                child = RadixNode(key, block, node)
                if not node.children:
                    self._evictable.discard(node)
                node.children[key] = child
                self.num_blocks += 1
                self._evictable.add(child)
            child.last_access = now
            out.append(child.block)
            node = child
        return node, out

    def lock(self, node: RadixNode) -> None:
        """Protect ``node`` and its ancestors from eviction."""
        while node is not self.root:
            if node.lock_ref == 0:
                self.num_protected += 1
                self._evictable.discard(node)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def unlock(self, node: RadixNode) -> None:
        while node is not self.root:
            assert node.lock_ref > 0, "unlock of an unlocked radix node"
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self.num_protected -= 1
                if not node.children:
                    self._evictable.add(node)
            node = node.parent  # type: ignore[assignment]

    def move_lock(self, old: RadixNode, new: RadixNode) -> None:
        """Same as ``lock(new); unlock(old)`` when ``old`` is ``new`` or an ancestor, in O(gap)."""
        node = new
        while node is not old:
            if node.lock_ref == 0:
                self.num_protected += 1
                self._evictable.discard(node)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def evict(self, num_blocks: int) -> int:
        """Free up to ``num_blocks`` unlocked blocks back to the pool; returns how many."""
        if num_blocks <= 0 or not self._evictable:
            return 0
        heap = [self._rank(n) for n in self._evictable]
        heapq.heapify(heap)
        freed: list[int] = []
        while heap and len(freed) < num_blocks:
            node = heapq.heappop(heap)[-1]
            parent = node.parent
            del parent.children[node.key]
            self._evictable.discard(node)
            freed.append(node.block)
            if parent is not self.root and not parent.children and parent.lock_ref == 0:
                self._evictable.add(parent)
                heapq.heappush(heap, self._rank(parent))
        self.num_blocks -= len(freed)
        self.num_evicted += len(freed)
        self.pool.free(freed)
        return len(freed)

    def _rank(self, node: RadixNode) -> tuple[float, int, int, RadixNode]:
        prio = self.priority(node.tokens()) if self.priority is not None else 0.0
        return (prio, node.last_access, id(node), node)

    def nodes(self) -> Iterator[RadixNode]:
        """Every cached node (not the root), parents before children."""
        stack = list(self.root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


def chain_keys(tokens: Sequence[int], block_size: int, start: int = 0,
               stop: int | None = None) -> Iterator[BlockKey]:
    """The keys of full blocks ``start..stop`` of ``tokens`` (``stop`` defaults to all full)."""
    stop = len(tokens) // block_size if stop is None else stop
    for i in range(start, stop):
        yield tuple(tokens[i * block_size:(i + 1) * block_size])
