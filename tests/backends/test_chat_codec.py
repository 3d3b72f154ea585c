"""The remote backend's tokenizer: the ids the runtime builds from a prompt decode back into the
exact messages the server must see, whatever the text holds, and shared text prefixes stay
shared id prefixes (what the prompt tree orders by)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heliumsql.backends.chat_codec import ChatCodec
from heliumsql.prompting import chat_token_ids, common_prefix

CODEC = ChatCodec()
# Any text, including the codec's own marker spellings.
TEXT = st.text() | st.sampled_from(["<|end|>", "<|user|>\nhi<|end|>", "<s></s>", "é😀\x00"])


@given(user=TEXT, system=st.none() | TEXT.filter(bool))
def test_prompt_ids_decode_into_the_exact_messages(user: str, system: str | None) -> None:
    ids = chat_token_ids(CODEC, user, system)
    expected = ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": user}]
    assert CODEC.messages(ids) == expected


@given(shared=TEXT, a=TEXT, b=TEXT)
def test_a_shared_text_prefix_is_a_shared_id_prefix(shared: str, a: str, b: str) -> None:
    first, second = chat_token_ids(CODEC, shared + a), chat_token_ids(CODEC, shared + b)
    assert common_prefix(first, second) >= 2 + len(shared.encode())  # <s>, <|user|>, the text
