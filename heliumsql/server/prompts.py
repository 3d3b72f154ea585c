"""Token ids for a chat request, formatted exactly as HeliumSQL's SQL path formats its prompts.

One user message (after an optional system message) goes through
:func:`heliumsql.prompting.chat_token_ids`, so ``llm('...')`` in SQL and the same text sent to
``/v1/chat/completions`` reach the model as the same tokens (and share cached prefixes). A longer
conversation is rendered by the tokenizer's chat template as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heliumsql.prompting import chat_token_ids
from heliumsql.server.errors import APIError
from heliumsql.server.protocol import ChatMessage

_SYSTEM_ROLES = ("system", "developer")


def chat_prompt_ids(tokenizer: Any, messages: Sequence[ChatMessage]) -> list[int]:
    """The prompt's token ids, ending where the assistant's answer begins.

    >>> chat_prompt_ids(tokenizer, [ChatMessage(role="user", content="Hi")])  # doctest: +SKIP
    [1, 27, 91, ...]
    """
    roles = [m.role for m in messages]
    if roles == ["user"]:
        return chat_token_ids(tokenizer, messages[0].text(), None)
    if len(roles) == 2 and roles[0] in _SYSTEM_ROLES and roles[1] == "user":
        return chat_token_ids(tokenizer, messages[1].text(), messages[0].text())
    if not getattr(tokenizer, "chat_template", None):
        raise APIError(400, "this model has no chat template, so it takes one user message "
                            "(optionally after one system message); send a single message or "
                            "use /v1/completions", param="messages")
    turns = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
             for m in messages]
    try:
        encoded = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=True)
    except Exception as exc:  # noqa: BLE001 - templates raise anything for a turn order they reject
        raise APIError(400, f"the model's chat template rejects these messages: {exc}",
                       param="messages") from exc
    if hasattr(encoded, "keys"):  # transformers 5 returns a BatchEncoding
        encoded = encoded["input_ids"]
    return [int(i) for i in encoded]
