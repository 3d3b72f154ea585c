"""The templated radix tree: every prompt a query will issue, known before it is issued.

Before execution only the *static* part of a node's prompts is known: the chat wrapper, the
``system =>`` message and the template text up to its first placeholder. Those static prefixes
enter the tree as templates at plan time; a node's actual prompts replace its template once its
upstream results exist and its input has been read. The tree answers the three questions the
runtime asks:

- in which order to issue requests: depth-first, i.e. sorted by token ids, so requests that
  share a prefix run back to back while it is cached;
- how many planned uses a prefix still has (``remaining_uses``): pinned prefixes are released
  when it reaches zero, and the engine evicts prefixes with the fewest remaining uses first;
- how many distinct tokens the issued prompts have (``distinct_tokens``): the numerator of
  prefill efficiency.

The tree is kept in sorted-array form: prompts sorted by token ids are exactly a depth-first
walk of their trie, and the prompts under any prefix form one contiguous run, found by
bisection. That answers every question above without materialising trie nodes.

>>> tree = PromptTree()
>>> tree.add_template(2, (1, 2))
>>> tree.add((1, 2, 3)); tree.add((1, 2, 4)); tree.add((9,))
>>> tree.remaining_uses((1, 2)), tree.remaining_uses((1, 2, 3)), tree.remaining_uses((7,))
(3, 1, 0)
>>> PromptTree.distinct_tokens([(1, 2, 3), (1, 2, 4), (9,)])
5
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Iterable, Sequence

from heliumsql.prompting import common_prefix

_TOP = sys.maxsize  # sorts after every token id: (prefix + (_TOP,)) bounds prefix's run


class PromptTree:
    """Planned prompts (with repeats) and the static prefixes of nodes not yet materialised."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, ...]] = []
        self._templates: dict[int, tuple[int, ...]] = {}
        self._template_runs: list[tuple[int, ...]] = []

    # -- templates: static prefixes known at plan time ------------------------------------
    def add_template(self, node_id: int, static_ids: Sequence[int]) -> None:
        """Node ``node_id`` will issue prompts starting with ``static_ids`` (not known yet)."""
        self.drop_template(node_id)
        ids = tuple(static_ids)
        self._templates[node_id] = ids
        bisect.insort(self._template_runs, ids)

    def drop_template(self, node_id: int) -> None:
        """The node's prompts are known now (or it is finished): forget its template."""
        ids = self._templates.pop(node_id, None)
        if ids is not None:
            del self._template_runs[bisect.bisect_left(self._template_runs, ids)]

    @property
    def templates(self) -> dict[int, tuple[int, ...]]:
        return dict(self._templates)

    # -- planned prompts -------------------------------------------------------------------
    def add(self, ids: Sequence[int]) -> None:
        """A prompt that will be issued (once per request; repeats count)."""
        bisect.insort(self._pending, tuple(ids))

    def add_many(self, prompts: Iterable[Sequence[int]]) -> None:
        """Several planned prompts at once (one sort instead of one insertion each; none for
        none: the runtime submits on every step, mostly nothing)."""
        before = len(self._pending)
        self._pending.extend(tuple(p) for p in prompts)
        if len(self._pending) > before:
            self._pending.sort()

    def remove(self, ids: Sequence[int]) -> None:
        """One planned use of ``ids`` is over (answered, or cancelled)."""
        key = tuple(ids)
        i = bisect.bisect_left(self._pending, key)
        if i < len(self._pending) and self._pending[i] == key:
            del self._pending[i]

    @property
    def num_pending(self) -> int:
        return len(self._pending)

    def remaining_uses(self, prefix: Sequence[int]) -> int:
        """Planned prompts starting with ``prefix``, plus unmaterialised nodes whose static
        prefix starts with it (each counts once: its row count is not known yet)."""
        key = tuple(prefix)
        return _run_length(self._pending, key) + _run_length(self._template_runs, key)

    def priority(self, prefix: tuple[int, ...]) -> float:
        """The engine's eviction-priority hook: cached prefixes with fewer remaining planned
        uses are evicted first (ties: least recently used)."""
        return float(self.remaining_uses(prefix))

    # -- whole-set figures -----------------------------------------------------------------
    @staticmethod
    def dfs_order(prompts: Iterable[Sequence[int]]) -> list[int]:
        """Indices of ``prompts`` in depth-first order of their trie (sorted by token ids)."""
        listed = list(prompts)
        return sorted(range(len(listed)), key=lambda i: listed[i])

    @staticmethod
    def distinct_tokens(prompts: Iterable[Sequence[int]]) -> int:
        """Nodes of the trie of ``prompts``: each prompt's length minus what it shares with
        its predecessor in sorted order."""
        total, previous = 0, ()
        for ids in sorted(tuple(p) for p in prompts):
            total += len(ids) - common_prefix(previous, ids)
            previous = ids
        return total


def _run_length(runs: list[tuple[int, ...]], prefix: tuple[int, ...]) -> int:
    lo = bisect.bisect_left(runs, prefix)
    hi = bisect.bisect_left(runs, prefix + (_TOP,), lo)
    return hi - lo
