"""Turn a rendered prompt into the token ids the model sees (and measure what prompts share).

If the tokenizer has a chat template, the prompt is one user message (``system =>`` becomes a
system message) and the generation prompt is added; otherwise the raw text is tokenized with the
model's special tokens. Both paths give token ids, so operators can count and check lengths
before anything reaches the engine.

>>> ids = chat_token_ids(tokenizer, "Is this positive? great", system=None)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

# One implementation, the engine's (the dependency points from heliumsql to the engine).
from heliumsql.engine.prefix import common_prefix

__all__ = ["chat_token_ids", "common_prefix", "prefix_token_ids"]

# Two values that share no first token: what both prompts start with is the static prefix.
_PROBES = ("0", "\n#")


def _ids(encoded: Any) -> list[int]:
    # transformers 5 returns a BatchEncoding from apply_chat_template; 4.x returns a list.
    if hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return [int(i) for i in encoded]


def chat_token_ids(tokenizer: Any, prompt: str, system: str | None = None) -> list[int]:
    """Token ids for ``prompt`` as the model should see it (chat-formatted when possible)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        try:
            return _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                      tokenize=True))
        except Exception:  # noqa: BLE001 - some templates reject a system role; fold it in
            if not system:
                raise
            merged = [{"role": "user", "content": f"{system}\n\n{prompt}"}]
            return _ids(tokenizer.apply_chat_template(merged, add_generation_prompt=True,
                                                      tokenize=True))
    text = f"{system}\n\n{prompt}" if system else prompt
    return _ids(tokenizer(text, add_special_tokens=True)["input_ids"])


def prefix_token_ids(tokenizer: Any, text: str, system: str | None) -> tuple[int, ...]:
    """Chat-formatted token ids that every prompt starting with ``text`` begins with.

    >>> prefix_token_ids(tokenizer, "Is this review positive? ", None)   # doctest: +SKIP
    (1, 4, 10, ...)
    """
    first, second = (chat_token_ids(tokenizer, text + p, system) for p in _PROBES)
    n = common_prefix(first, second)
    return tuple(first[:max(n - 1, 0)])
