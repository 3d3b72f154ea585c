"""Proactive caching: keep the prefixes the plan will reuse resident from their first use until
their last planned consumer has been answered.

Candidates are the static prefixes of the nodes being started (chat wrapper, system message,
template text up to the first placeholder) and the part of them that other unfinished nodes'
static prefixes share, down to the token where the engine reuses partial blocks (else cut to
whole KV blocks). A
candidate is pinned when the prompt tree says at least two planned prompts still need it, so
the engine prefills it once, up front, and cannot evict it between stages. Pins never make a
request unrunnable: they hold at most half the KV pool, and never so much that the largest
request of the query (prompt plus ``max_tokens``) would not fit next to them; when a larger
request comes, the pins with the fewest remaining uses go first (``make_room``). ``release_unused``
unpins a prefix as soon as the tree counts no remaining use; ``release_all`` runs when the query
ends however it ends, so no pin outlives its query.

>>> pins = Pins.for_engine(engine, tree)               # doctest: +SKIP
>>> pins.pin_for([static_ids]); ...; pins.release_all()           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from heliumsql.engine.interface import EngineBackend, PrefixCachingEngine
from heliumsql.errors import HeliumError
from heliumsql.prompting import common_prefix
from heliumsql.workflow.prompt_tree import PromptTree
from heliumsql.workflow.request import LlmRequest

# Pins may hold at most 1/_POOL_SHARE of the KV pool: the rest must run the requests themselves.
_POOL_SHARE = 2


class Pins:
    """The query's pins: prefix token ids -> engine pin handle."""

    def __init__(self, engine: PrefixCachingEngine, tree: PromptTree, block_size: int, num_blocks: int,
                 partial_blocks: bool = False) -> None:
        self.engine, self.tree = engine, tree
        self.block_size, self.num_blocks = block_size, num_blocks
        self.partial_blocks = partial_blocks
        self.max_blocks = num_blocks // _POOL_SHARE
        self.max_need = 0  # KV blocks of the largest request submitted so far
        self.pins: dict[tuple[int, ...], int] = {}
        self.history: list[tuple[int, ...]] = []  # every prefix pinned during the query

    @classmethod
    def for_engine(cls, engine: EngineBackend, tree: PromptTree) -> Pins | None:
        """Pins for ``engine``, or None if it has no prefix cache (e.g. the HF reference
        backend or a remote server: the same answers, without pins)."""
        if not isinstance(engine, PrefixCachingEngine):
            return None
        return cls(engine, tree, engine.block_size, engine.num_blocks, engine.partial_blocks)

    def _keepable(self, ids: Sequence[int]) -> tuple[int, ...]:
        """The part of ``ids`` a pin can keep: all of it, or its whole blocks."""
        if self.partial_blocks:
            return tuple(ids)
        return tuple(ids[:len(ids) // self.block_size * self.block_size])

    def _pinned_blocks(self, prefixes: Iterable[Sequence[int]]) -> int:
        # Pins nest (a shared part and a longer static prefix): count their union.
        return -(-PromptTree.distinct_tokens(prefixes) // self.block_size)

    def _fits(self, prefixes: Iterable[Sequence[int]]) -> bool:
        used = self._pinned_blocks(prefixes)
        return used <= self.max_blocks and used + self.max_need <= self.num_blocks

    def make_room(self, requests: Iterable[LlmRequest]) -> None:
        """Note the size of ``requests`` (before they are sent) and unpin, fewest remaining
        uses first, until the largest request fits next to the pins."""
        for req in requests:
            need = -(-(len(req.token_ids) + req.params.max_tokens) // self.block_size)
            self.max_need = max(self.max_need, need)
        while self.pins and not self._fits(self.pins):
            prefix = min(self.pins, key=self.tree.remaining_uses)
            self.engine.unpin(self.pins.pop(prefix))

    def candidates(self, started: Iterable[Sequence[int]]) -> list[tuple[int, ...]]:
        """Static prefixes of the started nodes and what other unfinished nodes share with
        them (as a pin keeps them); longest first, so shorter ones are already cached when
        pinned."""
        started = [tuple(s) for s in started]
        others = started + list(self.tree.templates.values())
        found: set[tuple[int, ...]] = set()
        for ids in started:
            found.add(self._keepable(ids))
            for other in others:
                if other is not ids:
                    found.add(self._keepable(ids[:common_prefix(ids, other)]))
        return sorted((c for c in found if c), key=len, reverse=True)

    def pin_for(self, started: Iterable[Sequence[int]]) -> None:
        """Pin every candidate that at least two planned prompts still need and that fits."""
        for prefix in self.candidates(started):
            if prefix in self.pins or self.tree.remaining_uses(prefix) < 2:
                continue
            if not self._fits(list(self.pins) + [prefix]):
                continue
            try:
                handle = self.engine.pin(list(prefix))
            except HeliumError:
                continue  # pinning only saves work; the pool may be too busy for it now
            self.pins[prefix] = handle
            self.history.append(prefix)

    def release_unused(self) -> None:
        """Unpin the prefixes no planned prompt needs any more."""
        for prefix in [p for p in self.pins if self.tree.remaining_uses(p) == 0]:
            self.engine.unpin(self.pins.pop(prefix))

    def release_all(self) -> None:
        """Unpin everything (end of the query, also on errors and cancellation)."""
        while self.pins:
            _, handle = self.pins.popitem()
            try:
                self.engine.unpin(handle)
            except HeliumError:
                pass
