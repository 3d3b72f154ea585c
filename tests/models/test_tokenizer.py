"""The built-in model's tokenizer: byte-level BPE with split digits and a chat template."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliumsql.models.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def tok():
    corpus = ["Is this review positive or negative? The shipping was fast.",
              "Extract the city from this text: Alice Smith lives in Paris.", "positive", "yes"] * 20
    return train_tokenizer(corpus, vocab_size=400)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_any_text_round_trips(tok, text):
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_digits_are_single_tokens(tok):
    pieces = tok.convert_ids_to_tokens(tok.encode("order 90210", add_special_tokens=False))
    assert pieces[-5:] == ["9", "0", "2", "1", "0"]


def test_chat_template_formats_system_and_user(tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<s><|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"
    assert tok.eos_token == "</s>" and tok.pad_token == "<pad>"


def test_a_word_is_the_same_tokens_after_a_space_a_quote_or_a_newline(tok):
    """What lets a small model copy a name from the prompt into a JSON string: "Paris" is the
    same token sequence wherever it stands, a space being a token of its own."""
    def pieces(text: str) -> list[str]:
        return tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False))

    word = pieces("Paris")
    for context in ("lives in Paris.", '{"city":"Paris"}', "City:\nParis"):
        got = pieces(context)
        assert any(got[i:i + len(word)] == word for i in range(len(got))), (context, got)
