"""Distinct prompt tokens: the size of the union prefix tree of a set of prompts.

It is the numerator of prefill efficiency — the least prefill any system could compute for the
prompts (every token that differs from all earlier prompts' prefixes computed exactly once).

>>> distinct_prompt_tokens([[1, 2, 3], [1, 2, 4], [5]])
5
"""

from __future__ import annotations

from collections.abc import Sequence


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def distinct_prompt_tokens(prompts: Sequence[Sequence[int]]) -> int:
    """Number of nodes in the trie of ``prompts`` (token ids).

    In sorted order each prompt shares its longest prefix with a trie path through its
    predecessor, so the node count is the sum of each prompt's length minus that overlap — no
    trie needs to be built.
    """
    total = 0
    previous: Sequence[int] = ()
    for prompt in sorted(tuple(p) for p in prompts):
        total += len(prompt) - _common_prefix(previous, prompt)
        previous = prompt
    return total
