"""How long a prefix two prompts share: the one measure the prefix cache and the planner use.

It lives in the engine (which imports nothing from the rest of HeliumSQL) and has no torch, so
planning code imports it from here without loading the model stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common prefix of two prompts (token ids or text).

    >>> common_prefix((1, 2, 3), (1, 2, 4)), common_prefix("Say hi", "Say ho")
    (2, 5)
    """
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
