"""The static token prefix of a node's prompts: what every prompt of the node starts with.

It is the node's entry in the templated prompt tree before its input is read: the chat
wrapper, the ``system =>`` message and the template text up to its first placeholder, as the
optimizer's prefix factoring computes it (one definition for both).

>>> static_prefix_ids(tokenizer, node)[:3]        # doctest: +SKIP
(256, 260, 198)
"""

from __future__ import annotations

from typing import Any

from heliumsql.optimizer.factor_prompt_prefixes import prefix_token_ids, static_text
from heliumsql.plan.nodes import LlmNode


def static_prefix_ids(tokenizer: Any, node: LlmNode) -> tuple[int, ...]:
    """Token ids every chat-formatted prompt of ``node`` starts with."""
    text, _ = static_text(node.call.prompt)
    return prefix_token_ids(tokenizer, text, node.call.option("system") or None)
