"""A byte-level tokenizer whose chat-formatted ids decode back into the exact messages.

The runtime turns every prompt into token ids itself (``heliumsql.prompting.chat_token_ids``)
and orders, deduplicates and caches requests by those ids. A remote chat endpoint wants
messages, so a remote backend needs a tokenizer it can invert: one id per UTF-8 byte (0-255)
and a few marker ids above them. Content is always encoded byte by byte, never scanned for
marker text, so a prompt that contains ``<|end|>`` still round-trips, and two prompts that share
a text prefix share an id prefix (the prompt tree keeps working).

>>> codec = ChatCodec()
>>> ids = codec.apply_chat_template([{"role": "system", "content": "Be brief."},
...                                  {"role": "user", "content": "Hi <|end|> é"}],
...                                 add_generation_prompt=True)
>>> codec.messages(ids)
[{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi <|end|> é'}]
>>> codec.decode(codec.encode("naïve"))
'naïve'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from heliumsql.errors import EngineError

_NUM_BYTES = 256
BOS, EOS, END, GENERATE = 256, 257, 258, 259
_ROLE_IDS = {"system": 260, "user": 261, "assistant": 262}
_ROLES = {i: role for role, i in _ROLE_IDS.items()}
_MARKERS = {BOS: "<s>", EOS: "</s>", END: "<|end|>", GENERATE: "<|assistant|>\n",
            **{i: f"<|{role}|>" for i, role in _ROLES.items()}}


class ChatCodec:
    """The subset of a Hugging Face tokenizer the runtime uses, reversible by construction.

    A message is ``<role-id> bytes(content) <end-id>``; the prompt starts with ``<bos-id>`` and
    ends with ``<generate-id>`` when a generation prompt is asked for.
    """

    # The runtime formats prompts as chat (one user message, ``system =>`` a system message)
    # whenever the tokenizer has a template; the template itself is this class's code.
    chat_template = "heliumsql byte-level chat codec"
    bos_token_id, eos_token_id = BOS, EOS
    vocab_size = _NUM_BYTES + len(_MARKERS)

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": ([BOS] if add_special_tokens else []) + self.encode(text)}

    def apply_chat_template(self, messages: Sequence[Mapping[str, str]], *,
                            add_generation_prompt: bool = False, tokenize: bool = True,
                            **_: Any) -> list[int]:
        ids = [BOS]
        for message in messages:
            role = message["role"]
            if role not in _ROLE_IDS:
                raise EngineError(f"the chat codec has no role {role!r}; use one of "
                                  f"{sorted(_ROLE_IDS)}")
            ids += [_ROLE_IDS[role], *self.encode(message["content"]), END]
        if add_generation_prompt:
            ids.append(GENERATE)
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        out, run = [], bytearray()
        for i in ids:
            if i < _NUM_BYTES:
                run.append(i)
                continue
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            if not skip_special_tokens:
                out.append(_MARKERS.get(i, ""))
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)

    def messages(self, ids: Sequence[int]) -> list[dict[str, str]]:
        """The messages ``ids`` encode. Ids without any role marker (a prompt given as plain
        text) are one user message."""
        ids = [int(i) for i in ids]
        if ids and ids[0] == BOS:
            ids = ids[1:]
        if ids and ids[-1] == GENERATE:
            ids = ids[:-1]
        if not any(i in _ROLES for i in ids):
            return [{"role": "user", "content": self.decode(ids, skip_special_tokens=True)}]
        out: list[dict[str, str]] = []
        role: str | None = None
        content = bytearray()
        for i in ids:
            if i in _ROLES and role is None:
                role, content = _ROLES[i], bytearray()
            elif i == END and role is not None:
                out.append({"role": role, "content": content.decode("utf-8", errors="replace")})
                role = None
            elif i < _NUM_BYTES and role is not None:
                content.append(i)
            else:
                raise EngineError(f"token ids do not follow the chat codec's format at id {i}; "
                                  "build prompts with the backend's own tokenizer")
        if role is not None:
            raise EngineError("token ids end inside a message; build prompts with the backend's "
                              "own tokenizer")
        return out
