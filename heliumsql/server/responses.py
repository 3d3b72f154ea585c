"""OpenAI's response bodies (whole and as SSE chunks) built from engine completions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from heliumsql.engine.request import Completion

# The engine's "choice" (a constrained answer completed) is a normal stop to an OpenAI client.
_FINISH = {"stop": "stop", "length": "length", "choice": "stop"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def finish_reason(c: Completion) -> str:
    return _FINISH.get(c.finish_reason, "stop")


def usage(completions: Sequence[Completion], n: int) -> dict[str, Any]:
    """Token counts of one request: each prompt counted once (its ``n`` choices share it), and
    as cached the prompt tokens that every one of its choices found in the KV cache."""
    by_prompt: dict[int, list[Completion]] = {}
    for c in completions:
        by_prompt.setdefault(c.index // n, []).append(c)
    prompt = sum(cs[0].num_prompt_tokens for cs in by_prompt.values())
    cached = sum(min(c.num_cached_tokens for c in cs) for cs in by_prompt.values())
    generated = sum(len(c.token_ids) for c in completions)
    return {"prompt_tokens": prompt, "completion_tokens": generated,
            "total_tokens": prompt + generated,
            "prompt_tokens_details": {"cached_tokens": cached}}


def completion_body(rid: str, created: int, model: str, completions: Sequence[Completion],
                    n: int) -> dict[str, Any]:
    choices = [{"index": c.index, "text": c.text, "finish_reason": finish_reason(c),
                "logprobs": None} for c in sorted(completions, key=lambda c: c.index)]
    return {"id": rid, "object": "text_completion", "created": created, "model": model,
            "choices": choices, "usage": usage(completions, n)}


def chat_body(rid: str, created: int, model: str, completions: Sequence[Completion],
              n: int) -> dict[str, Any]:
    choices = [{"index": c.index, "message": {"role": "assistant", "content": c.text},
                "finish_reason": finish_reason(c), "logprobs": None}
               for c in sorted(completions, key=lambda c: c.index)]
    return {"id": rid, "object": "chat.completion", "created": created, "model": model,
            "choices": choices, "usage": usage(completions, n)}


def completion_chunks(rid: str, created: int, model: str, c: Completion) -> list[dict[str, Any]]:
    """The engine finishes a choice whole, so a choice streams as one text chunk and its
    finish chunk; the streamed text equals the non-streamed one."""
    head = {"id": rid, "object": "text_completion", "created": created, "model": model}
    return [{**head, "choices": [{"index": c.index, "text": c.text, "finish_reason": None,
                                  "logprobs": None}]},
            {**head, "choices": [{"index": c.index, "text": "",
                                  "finish_reason": finish_reason(c), "logprobs": None}]}]


def chat_chunks(rid: str, created: int, model: str, c: Completion) -> list[dict[str, Any]]:
    head = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
    return [{**head, "choices": [{"index": c.index, "finish_reason": None, "logprobs": None,
                                  "delta": {"role": "assistant", "content": c.text}}]},
            {**head, "choices": [{"index": c.index, "delta": {}, "logprobs": None,
                                  "finish_reason": finish_reason(c)}]}]


def usage_chunk(rid: str, created: int, model: str, obj: str, completions: Sequence[Completion],
                n: int) -> dict[str, Any]:
    """The last chunk of a stream asked for with ``stream_options.include_usage``."""
    return {"id": rid, "object": obj, "created": created, "model": model, "choices": [],
            "usage": usage(completions, n)}


def sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"
