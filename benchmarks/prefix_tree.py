"""Distinct prompt tokens: the size of the union prefix tree of a set of prompts.

It is the numerator of prefill efficiency — the least prefill any system could compute for the
prompts (every token that differs from all earlier prompts' prefixes computed exactly once).
:class:`ForwardWork` weighs the same counts in forward FLOPs, where a token deep in a long
prompt costs more than one near its start (it attends to every token before it).

>>> distinct_prompt_tokens([[1, 2, 3], [1, 2, 4], [5]])
5
>>> work = ForwardWork(per_token=10, per_key=1)
>>> work.prefill([[1, 2, 3], [1, 2, 4]], shared=False), work.prefill([[1, 2, 3], [1, 2, 4]])
(72, 49)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from heliumsql.prompting import common_prefix


def distinct_prompt_tokens(prompts: Sequence[Sequence[int]]) -> int:
    """Number of nodes in the trie of ``prompts`` (token ids).

    In sorted order each prompt shares its longest prefix with a trie path through its
    predecessor, so the node count is the sum of each prompt's length minus that overlap — no
    trie needs to be built.
    """
    return sum(length - common for common, length in _sorted_overlaps(prompts))


def _sorted_overlaps(prompts: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """(tokens shared with the trie so far, length) of each prompt, in sorted order."""
    out, previous = [], ()
    for prompt in sorted(tuple(p) for p in prompts):
        out.append((common_prefix(previous, prompt), len(prompt)))
        previous = prompt
    return out


@dataclass(frozen=True)
class ForwardWork:
    """Forward FLOPs of a decoder: ``per_token`` for a token's weight matrices, plus
    ``per_key`` for each token it attends to (itself and every earlier one)."""

    per_token: float
    per_key: float

    @classmethod
    def of(cls, model: Any) -> ForwardWork:
        """The figures of a Hugging Face decoder (input embedding and LM head left out: a
        lookup, and logits only where a token is sampled, the same for every system)."""
        c = model.config
        skip = {id(p) for m in (model.get_input_embeddings(), model.get_output_embeddings())
                if m is not None for p in m.parameters()}
        weights = sum(p.numel() for p in model.parameters() if id(p) not in skip)
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        # Scores and the weighted sum of values: 2 multiply-adds per key, head and channel.
        return cls(2.0 * weights, 4.0 * c.num_hidden_layers * c.num_attention_heads * head_dim)

    def tokens(self, start: int, end: int) -> float:
        """FLOPs of the tokens at positions ``start .. end - 1`` of one sequence."""
        keys = (end * (end + 1) - start * (start + 1)) // 2
        return (end - start) * self.per_token + keys * self.per_key

    def prefill(self, prompts: Sequence[Sequence[int]], shared: bool = True) -> float:
        """Prefill FLOPs of ``prompts``: every distinct token of their prefix tree once
        (``shared``), or every prompt from scratch."""
        return sum(self.tokens(common if shared else 0, length)
                   for common, length in _sorted_overlaps(prompts))
