"""What an engine returns for one request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Completion:
    """One finished request.

    ``index`` is the request's position in the ``generate`` call. ``text`` is the decoded
    generated text with the stop string removed and surrounding whitespace stripped.
    ``finish_reason`` is ``"stop"`` (EOS, stop token or stop string), ``"length"``
    (``max_tokens`` reached) or ``"choice"`` (a constrained choice completed; ``choice`` holds
    its index). ``num_cached_tokens`` counts prompt tokens served from the KV cache.
    """

    index: int
    text: str
    token_ids: tuple[int, ...]
    num_prompt_tokens: int
    num_cached_tokens: int = 0
    finish_reason: str = "stop"
    choice: int | None = None
