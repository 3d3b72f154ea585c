"""The radix prefix cache: a trie of KV blocks shared by every request.

Each node is one block, keyed by its tokens under its parent, so the path from the root spells
a prompt prefix and lists the blocks that hold its K/V. Inner nodes are full blocks of
``block_size`` tokens. A *partial* node (key shorter than ``block_size``: the computed part of
a finished request's or a pin's last block) is always a leaf and never gets children; it only
serves as a source to copy K/V from (:meth:`RadixCache.best_child`), so a shared block is never
written. A node's ``lock_ref`` counts the holders of it *or of a descendant* (locking walks to
the root), so ``lock_ref == 0`` means the whole subtree is free to evict; eviction removes
unlocked leaves, lowest priority first, then least recently used.

The unlocked leaves sit in a heap keyed (priority, last use) so an eviction costs O(log n) per
block, not a ranking of the whole cache. Entries are checked lazily: one whose node has been
locked, grown children or been evicted since is dropped when it surfaces, and one whose node
was used since (or whose priority rose) is pushed back with its new key. A hook's values are
read when a leaf becomes evictable and again when it reaches the front; setting the hook
(even to the same function) re-reads every leaf.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Sequence

from heliumsql.engine.interface import Priority
from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.prefix import common_prefix

BlockKey = tuple[int, ...]


class RadixNode:
    """One cached block: its tokens (``key``), its pool block and its place in the trie.

    ``order`` lists the children's keys sorted, so the child sharing the longest prefix with
    some tokens is found by bisection (it is next to where those tokens would sort).
    """

    __slots__ = ("key", "block", "parent", "children", "order", "lock_ref", "last_access", "born",
                 "entry")

    def __init__(self, key: BlockKey, block: int, parent: RadixNode | None) -> None:
        self.key, self.block, self.parent = key, block, parent
        self.children: dict[BlockKey, RadixNode] = {}
        self.order: list[BlockKey] = []
        self.lock_ref = 0
        self.last_access = 0
        self.born = 0  # the cache's clock when the node was created (see ``RadixCache.stamp``)
        self.entry: _Entry | None = None  # its live heap entry while it is an unlocked leaf

    def tokens(self) -> tuple[int, ...]:
        """The whole prefix this node ends (what an eviction-priority hook is given)."""
        keys = []
        node: RadixNode | None = self
        while node is not None and node.parent is not None:
            keys.append(node.key)
            node = node.parent
        return tuple(itertools.chain.from_iterable(reversed(keys)))


class RadixCache:
    """Block-granular prefix cache over a :class:`KVPool`.

    >>> pool = KVPool(1, 8, 2, 1, 4)
    >>> cache = RadixCache(pool)
    >>> node, _ = cache.insert(cache.root, [(1, 2), (3, 4)], pool.allocate(2))
    >>> blocks, _ = cache.match([(1, 2), (3, 4), (5, 6)]); len(blocks)
    2
    >>> cache.best_child(cache.root, (1, 9))[1]  # a new prompt shares 1 token of block (1, 2)
    1
    >>> cache.evict(2), pool.num_free
    (2, 8)
    """

    def __init__(self, pool: KVPool, priority: Priority | None = None) -> None:
        self.pool = pool
        self.root = RadixNode((), -1, None)
        self._priority = priority
        self.num_blocks = 0  # blocks held by the tree
        self.num_protected = 0  # tree blocks with lock_ref > 0
        self.num_evicted = 0
        self._evictable: set[RadixNode] = set()  # unlocked leaves
        self._heap: list[_Entry] = []  # at least one live entry per unlocked leaf
        self._pushes = itertools.count()  # orders two entries of one node (never compared)
        self._clock = itertools.count(1)

    @property
    def num_evictable(self) -> int:
        return self.num_blocks - self.num_protected

    @property
    def priority(self) -> Priority | None:
        """The eviction-priority hook: ``priority(prefix_tokens)``, lower is evicted first."""
        return self._priority

    @priority.setter
    def priority(self, hook: Priority | None) -> None:
        self._priority = hook
        self._heap = []
        for node in self._evictable:
            self._push(node)

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

    def insert(self, node: RadixNode, keys: Sequence[BlockKey], blocks: Sequence[int], *,
               evictable: bool = True) -> tuple[RadixNode, list[int]]:
        """Extend the path below ``node`` with ``keys`` held in ``blocks``.

        ``evictable=False`` is for a caller that locks the returned node at once (the
        scheduler): the new leaf is not ranked for eviction only to leave the heap again; it
        enters it when unlocked.

        Where the tree already has a block for a key (another request computed it first), the
        tree's block wins: the returned list holds the tree's block for every key, and the
        caller frees those of its own blocks that differ.
        """
        out, now, grown = [], next(self._clock), False
        for key, block in zip(keys, blocks):
            child = node.children.get(key)
            if child is None:
                # Only the end of the new path can be a leaf: ranking each block on the way
                # (its whole prefix handed to the priority hook) made a long prompt quadratic.
                child, grown = self._attach(node, key, block, now, enter=False), True
            child.last_access = now
            out.append(child.block)
            node = child
        if grown and evictable and not node.children and node.lock_ref == 0:
            self._enter(node)
        return node, out

    def best_child(self, node: RadixNode, tokens: Sequence[int]) -> tuple[RadixNode | None, int]:
        """The child of ``node`` (full or partial) whose key shares the longest prefix with
        ``tokens`` (their first block's worth), and that length; ``(None, 0)`` when none does.

        A use of the child (for LRU) when the length is positive.
        """
        key, n = closest_key(node.order, tuple(tokens[:self.pool.block_size]))
        best = node.children[key] if key is not None else None
        if best is not None:
            best.last_access = next(self._clock)
        return best, n

    def insert_partial(self, node: RadixNode, key: BlockKey, block: int
                       ) -> tuple[RadixNode, bool]:
        """Cache ``block``, holding the K/V of ``key`` (shorter than a block), below full node
        ``node``. Returns the node that now covers ``key`` and whether ``block`` was taken:
        when a child already starts with ``key`` that child is returned and the caller keeps
        (frees) its block.
        """
        assert 0 < len(key) < self.pool.block_size, "a partial node holds 1..block_size-1 tokens"
        cover, n = self.best_child(node, key)
        if cover is not None and n == len(key):
            return cover, False
        return self._attach(node, key, block, next(self._clock)), True

    def lock(self, node: RadixNode) -> None:
        """Protect ``node`` and its ancestors from eviction."""
        while node is not self.root:
            if node.lock_ref == 0:
                self.num_protected += 1
                self._leave(node)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def unlock(self, node: RadixNode) -> None:
        while node is not self.root:
            assert node.lock_ref > 0, "unlock of an unlocked radix node"
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self.num_protected -= 1
                if not node.children:
                    self._enter(node)
            node = node.parent  # type: ignore[assignment]

    def move_lock(self, old: RadixNode, new: RadixNode) -> None:
        """Same as ``lock(new); unlock(old)`` when ``old`` is ``new`` or an ancestor, in O(gap)."""
        node = new
        while node is not old:
            if node.lock_ref == 0:
                self.num_protected += 1
                self._leave(node)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def evict(self, num_blocks: int) -> int:
        """Free up to ``num_blocks`` unlocked blocks back to the pool; returns how many."""
        freed: list[int] = []
        while self._evictable and len(freed) < num_blocks:
            entry = heapq.heappop(self._heap)
            node = entry[-1]
            if node.entry is not entry:
                continue  # stale: locked, grown children or evicted since it was pushed
            if node.last_access != entry[1] or self._rank(node) > entry[0]:
                self._push(node)  # used (or re-ranked up) since: back in line with its new key
                continue
            self._detach(node)  # its parent, now an unlocked leaf, enters the heap
            freed.append(node.block)
        self.num_evicted += len(freed)
        self.pool.free(freed)
        return len(freed)

    def stamp(self) -> int:
        """A point in the cache's history: nodes created afterwards have a larger ``born``."""
        return next(self._clock)

    def cached_length(self, tokens: Sequence[int], born_before: int | None = None) -> int:
        """How many leading ``tokens`` have K/V in the tree, down to the token (the rest of a
        block shared with a full or partial node counts); with ``born_before``, only nodes
        created before that :meth:`stamp` count. Not a use (LRU is untouched)."""
        bs = self.pool.block_size
        node, n = self.root, 0

        def old(child: RadixNode) -> bool:
            return born_before is None or child.born < born_before

        while n + bs <= len(tokens):
            child = node.children.get(tuple(tokens[n:n + bs]))
            if child is None or not old(child):
                break
            node, n = child, n + bs
        return n + self._shared_with_child(node, tuple(tokens[n:n + bs]), old)

    @staticmethod
    def _shared_with_child(node: RadixNode, rest: BlockKey, old: Callable[[RadixNode], bool]
                           ) -> int:
        """The longest prefix ``rest`` shares with a child of ``node`` that ``old`` accepts.

        Keys sharing a prefix with ``rest`` sit around its place in ``node.order``, sharing less
        the farther they are, so the walk stops at the first key that cannot beat the best.
        """
        order, best = node.order, 0
        i = bisect_left(order, rest)
        for step, j in ((1, i), (-1, i - 1)):
            while 0 <= j < len(order):
                n = common_prefix(order[j], rest)
                if n <= best:
                    break
                if old(node.children[order[j]]):
                    best = n
                j += step
        return best

    def _attach(self, parent: RadixNode, key: BlockKey, block: int, now: int, enter: bool = True
                ) -> RadixNode:
        """A new node below ``parent``; it enters the eviction heap unless ``enter`` is False
        (the caller enters the path's last node once the path is built)."""
        child = RadixNode(key, block, parent)
        child.born = next(self._clock)
        child.last_access = now  # before it enters the heap, so its entry is current
        if not parent.children:
            self._leave(parent)
        parent.children[key] = child
        insort(parent.order, key)
        self.num_blocks += 1
        if enter:
            self._enter(child)
        # An unlocked partial sibling that ``key`` extends holds nothing the new node does not:
        # its block goes back to the pool (a locked one, a pin's, stays until unpinned).
        for n in range(1, len(key)):
            old = parent.children.get(key[:n])
            if old is not None and old.lock_ref == 0:
                self._detach(old)
                self.pool.free([old.block])
        return child

    def _detach(self, node: RadixNode) -> None:
        """Unlink an unlocked leaf (its block is the caller's to free)."""
        parent = node.parent
        assert parent is not None and not node.children and node.lock_ref == 0
        del parent.children[node.key]
        del parent.order[bisect_left(parent.order, node.key)]
        self._leave(node)
        self.num_blocks -= 1
        if parent is not self.root and not parent.children and parent.lock_ref == 0:
            self._enter(parent)

    # -- the eviction heap ------------------------------------------------------------------
    def _enter(self, node: RadixNode) -> None:
        """``node`` has become an unlocked leaf."""
        self._evictable.add(node)
        self._push(node)

    def _leave(self, node: RadixNode) -> None:
        """``node`` is no longer an unlocked leaf (locked, a parent, or gone)."""
        self._evictable.discard(node)
        node.entry = None

    def _push(self, node: RadixNode) -> None:
        if len(self._heap) > 2 * len(self._evictable) + 64:  # mostly stale: rebuild, O(n)
            self._heap = [e for e in self._heap if e[-1].entry is e]
            heapq.heapify(self._heap)
        node.entry = (self._rank(node), node.last_access, id(node), next(self._pushes), node)
        heapq.heappush(self._heap, node.entry)

    def _rank(self, node: RadixNode) -> float:
        return self._priority(node.tokens()) if self._priority is not None else 0.0

    def nodes(self) -> Iterator[RadixNode]:
        """Every cached node (not the root), parents before children."""
        stack = list(self.root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


# (priority, last use, tie-break as the old full ranking had it, push count, node)
_Entry = tuple[float, int, int, int, RadixNode]


def closest_key(order: list[BlockKey], query: BlockKey) -> tuple[BlockKey | None, int]:
    """The key of the sorted list ``order`` sharing the longest prefix with ``query``, and
    that length (``(None, 0)`` when none shares a token).

    >>> closest_key([(1, 2), (1, 3, 4), (2,)], (1, 3, 5))
    ((1, 3, 4), 2)
    """
    i = bisect_left(order, query)
    best, best_len = None, 0
    # In sorted order the longest common prefix with ``query`` is at one of its neighbours.
    for key in order[max(0, i - 1):i + 1]:
        n = common_prefix(key, query)
        if n > best_len:
            best, best_len = key, n
    return best, best_len


def chain_keys(tokens: Sequence[int], block_size: int, start: int = 0,
               stop: int | None = None) -> Iterator[BlockKey]:
    """The keys of full blocks ``start..stop`` of ``tokens`` (``stop`` defaults to all full)."""
    stop = len(tokens) // block_size if stop is None else stop
    for i in range(start, stop):
        yield tuple(tokens[i * block_size:(i + 1) * block_size])
