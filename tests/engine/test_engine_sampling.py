"""Choices, stop strings, stop tokens, seeded sampling and length limits."""

from __future__ import annotations

import pytest

from heliumsql.engine import Engine, SamplingParams
from heliumsql.engine.sampling import ChoiceTrie
from heliumsql.errors import EngineError, PromptTooLongError

PROMPTS = ["Is the sky green? Answer:", "Classify: the movie was great.", "Label this row: 42",
           "Tell me a story about a cat"]


@pytest.fixture(scope="module")
def engine(model_paths):  # noqa: ANN001
    return Engine(model_paths["llama"], block_size=4)


@pytest.fixture(scope="module")
def ref(references):  # noqa: ANN001
    return references["llama"]


def test_choices_match_hf_constrained_generate(engine, ref):  # noqa: ANN001
    for choices in [("yes", "no"), ("positive", "negative", "neutral"), ("A", "B", "C", "D")]:
        params = SamplingParams(max_tokens=4, choices=choices)
        got, want = engine.generate(PROMPTS, params), ref.generate(PROMPTS, params)
        assert [(c.text, c.choice, c.finish_reason, c.token_ids) for c in got] == \
               [(c.text, c.choice, c.finish_reason, c.token_ids) for c in want]
        assert all(c.text == choices[c.choice] for c in got)


def test_choice_trie_forces_the_rest_once_decided() -> None:
    trie = ChoiceTrie([[1, 2, 3], [1, 4], [1, 2, 3, 5]], eos=0)
    assert trie.allowed([]) == [1] and trie.resolved([]) is None
    assert trie.allowed([1]) == [2, 4]
    assert trie.resolved([1, 4]) == 1
    # [1, 2, 3] is complete but [1, 2, 3, 5] extends it: both ending and going on are allowed.
    assert trie.allowed([1, 2, 3]) == [0, 5]
    assert trie.resolved([1, 2, 3, 0]) == 0
    assert trie.resolved([1, 2, 3, 5]) == 2


def test_stop_strings_and_stop_tokens_match_hf(engine, ref):  # noqa: ANN001
    checked = 0
    free = engine.generate(PROMPTS, SamplingParams(max_tokens=12, ignore_eos=True))
    for prompt, c in zip(PROMPTS, free):
        text = engine.tokenizer.decode(list(c.token_ids), skip_special_tokens=True)
        # A printable-ASCII piece that greedy decoding is known to produce (transformers
        # matches stop strings on byte-level token strings, so stay clear of partial UTF-8).
        stops = [text[i:i + 2] for i in range(2, len(text) - 1)
                 if text[i:i + 2].isascii() and text[i:i + 2].isprintable() and text[i:i + 2].strip()]
        if not stops:
            continue
        checked += 1
        stop = stops[0]
        params = SamplingParams(max_tokens=12, stop=(stop, "never-produced"))
        got, want = engine.generate([prompt], params)[0], ref.generate([prompt], params)[0]
        assert (got.text, got.token_ids, got.finish_reason) == \
               (want.text, want.token_ids, want.finish_reason)
        assert got.finish_reason == "stop" and stop not in got.text

        params = SamplingParams(max_tokens=12, stop_token_ids=(c.token_ids[2],))
        got, want = engine.generate([prompt], params)[0], ref.generate([prompt], params)[0]
        assert (got.text, got.token_ids, got.finish_reason) == \
               (want.text, want.token_ids, want.finish_reason)
        assert got.token_ids[-1] == c.token_ids[2] and len(got.token_ids) <= 3
    assert checked


def test_seeded_sampling_does_not_depend_on_the_batch(engine):  # noqa: ANN001
    params = [SamplingParams(max_tokens=10, temperature=0.9, top_p=0.9, top_k=50, seed=s)
              for s in (1, 2, 3, 4)]
    alone = [engine.generate([p], [sp])[0].token_ids for p, sp in zip(PROMPTS, params)]
    together = engine.generate(PROMPTS, params)
    assert [c.token_ids for c in together] == alone
    reordered = engine.generate(PROMPTS[::-1] + ["filler prompt"] * 3,
                                params[::-1] + [SamplingParams(max_tokens=3)] * 3)
    assert [c.token_ids for c in reordered[:4]] == alone[::-1]
    other_seed = engine.generate(PROMPTS[:1], SamplingParams(max_tokens=10, temperature=0.9,
                                                             top_p=0.9, top_k=50, seed=99))
    assert other_seed[0].token_ids != alone[0]


def test_max_tokens_is_capped_by_the_context_window(engine, ref):  # noqa: ANN001
    prompt = [10 + i % 200 for i in range(engine.max_context - 3)]
    params = SamplingParams(max_tokens=50, ignore_eos=True)
    got, want = engine.generate([prompt], params)[0], ref.generate([prompt], params)[0]
    assert len(got.token_ids) == 3 and got.finish_reason == "length"
    assert got.token_ids == want.token_ids


def test_prompt_too_long_names_the_request(engine):  # noqa: ANN001
    too_long = [5 + i % 200 for i in range(engine.max_context)]
    with pytest.raises(PromptTooLongError) as err:
        engine.generate([[5, 6, 7], too_long], SamplingParams())
    assert err.value.request_index == 1
    assert err.value.num_prompt_tokens == engine.max_context
    assert engine.generate(["still works"], SamplingParams(max_tokens=2))[0].token_ids


def test_token_ids_outside_the_vocabulary_are_rejected(engine):  # noqa: ANN001
    with pytest.raises(EngineError, match="vocabulary"):
        engine.generate([[1, 2, 10**6]], SamplingParams())
