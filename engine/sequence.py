"""One request's state inside the engine: its tokens, its blocks and how far it has got."""

from __future__ import annotations

import enum
import itertools
from typing import Any

from heliumsql.engine.radix import BlockKey, RadixNode
from heliumsql.engine.sampling import ChoiceTrie, SamplingParams

_ids = itertools.count()


class SeqStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class Sequence:
    """Prompt plus generated tokens, the KV blocks holding them, and the sampling state.

    ``block_table[:num_tree_blocks]`` are blocks owned by the radix cache (kept alive by
    locking ``node``, the deepest of them); the rest are private to this sequence.
    ``num_computed`` tokens have K/V in the pool. A sequence is *prefill-only* when it only
    fills the cache (``Engine.pin``) and samples nothing.

    >>> s = Sequence([1, 2, 3], SamplingParams(max_tokens=4), max_new_tokens=4)
    >>> s.num_tokens, s.num_prompt_tokens, s.is_prefilling
    (3, 3, True)
    """

    __slots__ = ("seq_id", "token_ids", "num_prompt_tokens", "params", "max_new_tokens",
                 "status", "block_table", "num_tree_blocks", "node", "num_computed",
                 "num_cached_tokens", "prefill_end", "admitted", "generator", "choice",
                 "prefill_only", "index", "owner", "block_size", "_keys", "_hashes", "stop_tail", "stop_ids",
                 "waited_partial", "matcher")

    def __init__(self, token_ids: list[int], params: SamplingParams, max_new_tokens: int,
                 block_size: int = 16, index: int = 0, owner: Any = None,
                 prefill_only: bool = False, generator: Any = None,
                 choice: ChoiceTrie | None = None, matcher: Any = None) -> None:
        self.seq_id = next(_ids)
        self.token_ids = list(token_ids)
        self.num_prompt_tokens = len(token_ids)
        self.params = params
        self.max_new_tokens = max_new_tokens
        self.status = SeqStatus.WAITING
        self.block_table: list[int] = []
        self.num_tree_blocks = 0
        self.node: RadixNode | None = None
        self.num_computed = 0
        self.num_cached_tokens = 0
        self.prefill_end = 0  # tokens known at (re)admission: feeding those is prefill work
        self.admitted = False  # set at first admission (cached tokens are counted once)
        self.waited_partial = False  # waited once for an in-flight block sharing its tokens
        self.generator = generator
        self.choice = choice
        self.matcher = matcher  # the grammar state of a json_schema request (constraint.py)
        self.prefill_only = prefill_only
        self.index, self.owner = index, owner
        self.block_size = block_size
        self._keys: list[BlockKey] = []
        self._hashes: list[int] = []
        self.stop_tail = 0  # tokens to decode when looking for stop strings
        self.stop_ids: frozenset[int] = frozenset()  # EOS (unless ignored) and stop_token_ids

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def num_generated(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def is_prefilling(self) -> bool:
        """More than the last token still lacks K/V (the next step is not a plain decode)."""
        return self.num_tokens - self.num_computed > 1

    def block_keys(self, stop: int) -> list[BlockKey]:
        """Radix keys of the first ``stop`` full blocks (computed once, then reused)."""
        bs = self.block_size
        while len(self._keys) < stop:
            i = len(self._keys)
            self._keys.append(tuple(self.token_ids[i * bs:(i + 1) * bs]))
        return self._keys[:stop]

    def block_hash(self, i: int) -> int:
        """A hash of the whole prefix up to the end of full block ``i`` (in-batch dedup key)."""
        while len(self._hashes) <= i:
            j = len(self._hashes)
            prev = self._hashes[-1] if self._hashes else 0
            self._hashes.append(hash((prev, self.block_keys(j + 1)[j])))
        return self._hashes[i]

    def __repr__(self) -> str:
        return (f"Sequence(id={self.seq_id}, tokens={self.num_tokens}, computed={self.num_computed}, "
                f"blocks={len(self.block_table)}, status={self.status.value})")
