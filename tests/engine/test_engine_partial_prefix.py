"""Prefixes shared to the token, not just to the block: a request reuses the cached K/V of a
block it diverges from (or ends inside) by copying that block's first tokens, so a prefix
shared by 7, 21 or 40 tokens is computed once even with 16-token blocks."""

from __future__ import annotations

import pytest

from heliumsql.engine import Engine, SamplingParams

BS = 16
TEXT = ("Instructions: read the review below and answer yes or no. Think about tone, wording, "
        "and whether the writer would recommend it to a friend. ")


def _ids(eng: Engine, text: str) -> list[int]:
    return eng.tokenizer.encode(text, add_special_tokens=False)  # a piece to glue after a prefix


def _distinct(prompts: list[list[int]]) -> int:
    """Tokens of the union prefix tree of ``prompts``: the least prefill that can serve them."""
    return len({tuple(p[:i + 1]) for p in prompts for i in range(len(p))})


def _tokens(out) -> list[tuple[int, ...]]:  # noqa: ANN001
    return [c.token_ids for c in out]


def test_prompt_diverging_inside_a_cached_block_computes_only_its_new_tokens(model_paths,
                                                                             references):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=BS)
    prefix = eng.encode(TEXT)[:40]  # two full blocks and 8 tokens into the third
    a = prefix + _ids(eng, "A: great food, slow service")
    b = prefix + _ids(eng, "B: never again")
    params = SamplingParams(max_tokens=4, ignore_eos=True)
    eng.generate([a], params)
    eng.reset_stats()
    out = eng.generate([b], params)
    stats = eng.stats()
    assert stats["cached_tokens"] == 40 and out[0].num_cached_tokens == 40
    assert stats["computed_prefill_tokens"] == len(b) - 40
    assert _tokens(out) == _tokens(references["llama"].generate([b], params))


def test_partial_only_reuse_can_be_switched_off(model_paths):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=BS, partial_blocks=False)
    prefix = eng.encode(TEXT)[:40]
    eng.generate([prefix + _ids(eng, "A: fine")], SamplingParams(max_tokens=2))
    eng.reset_stats()
    eng.generate([prefix + _ids(eng, "B: not fine")], SamplingParams(max_tokens=2))
    assert eng.stats()["cached_tokens"] == 32  # full blocks only, as vLLM shares them
    assert all(len(n.key) == BS for n in eng.radix.nodes())


def test_pinned_prefix_serves_all_of_its_tokens_and_keeps_its_tail(model_paths,
                                                                  references):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=BS, num_blocks=24)
    prefix = eng.encode(TEXT)[:37]  # two full blocks and a 5-token tail
    handle = eng.pin(prefix)
    computed = eng.stats()["computed_prefill_tokens"]
    again = eng.pin(prefix)  # cached to the token: pinned again without a prefill
    assert eng.stats()["computed_prefill_tokens"] == computed
    params = SamplingParams(max_tokens=3, ignore_eos=True)
    for round_ in range(3):  # unrelated traffic overflowing the pool evicts everything else
        eng.generate([_ids(eng, f"traffic {round_}-{i} " * 6) for i in range(3)], params)
    assert eng.stats()["evictions"] > 0
    eng.reset_stats()
    prompts = [prefix + _ids(eng, f"question {i}?") for i in range(3)]
    out = eng.generate(prompts, params)
    stats = eng.stats()
    assert [c.num_cached_tokens for c in out] == [37, 46, 46]  # + "question " computed once
    assert stats["computed_prefill_tokens"] == _distinct(prompts) - 37
    assert _tokens(out) == _tokens(references["llama"].generate(prompts, params))
    eng.unpin(handle)
    eng.unpin(again)
    assert not [n for n in eng.radix.nodes() if n.lock_ref]


def test_repeated_prompt_ending_inside_a_partial_block_recomputes_one_token(model_paths,
                                                                           references):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=BS)
    prompt = eng.encode(TEXT)[:37]
    params = SamplingParams(max_tokens=1)
    first = eng.generate([prompt], params)
    again = eng.generate([prompt], params)
    assert again[0].num_cached_tokens == 36
    assert _tokens(again) == _tokens(first) == _tokens(references["llama"].generate([prompt], params))


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("shared", [7, 21, 40])
def test_prefixes_shared_mid_block_match_hf_cold_warm_and_under_pressure(arch, shared, model_paths,
                                                                        references):  # noqa: ANN001
    # 12 blocks of 16 hold about three of these requests at once: admission waits, requests
    # are preempted and recomputed, and cached blocks (partial ones too) are evicted.
    eng = Engine(model_paths[arch], block_size=BS, num_blocks=12)
    ref = references[arch]
    prefix = eng.encode(TEXT)[:shared]
    params = SamplingParams(max_tokens=12, ignore_eos=True)
    cold = [prefix + _ids(eng, f"review {i}: " + "so-so " * i) for i in range(5)]
    want = _tokens(ref.generate(cold, params))
    assert _tokens(eng.generate(cold, params)) == want
    eng.reset_stats()
    warm = cold[:2] + [prefix + _ids(eng, f"other {i}") for i in range(3)]
    out = eng.generate(warm, params)
    assert _tokens(out) == _tokens(ref.generate(warm, params))
    # A follow-up that extends an earlier prompt and its answer (a chat's next turn).
    # (Cut at a special token: HF generate would mask a pad inside the prompt.)
    answer = eng.generate([cold[0]], params)[0].token_ids
    special = [i for i, t in enumerate(answer) if t in eng.tokenizer.all_special_ids]
    cut = min(special, default=len(answer))
    follow = cold[0] + list(answer[:cut]) + _ids(eng, " and then?")
    out = eng.generate([follow], params)
    assert _tokens(out) == _tokens(ref.generate([follow], params))
    # Everything the answer's request computed is reused (its last token never had K/V).
    assert out[0].num_cached_tokens == len(cold[0]) + min(cut, len(answer) - 1)
    stats = eng.stats()
    assert stats["preemptions"] + stats["evictions"] > 0
    assert eng.pool.num_free + eng.radix.num_blocks == eng.pool.num_blocks
    assert not [n for n in eng.radix.nodes() if n.lock_ref]


def test_cached_prefix_tells_what_earlier_work_left_from_what_came_later(model_paths):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=BS)
    prefix = eng.encode(TEXT)[:40]
    a = prefix + _ids(eng, "A: great food")
    b = prefix + _ids(eng, "B: cold soup")
    params = SamplingParams(max_tokens=2, ignore_eos=True)
    assert eng.cached_prefix(a) == 0
    eng.generate([a], params)
    stamp = eng.cache_stamp()
    eng.generate([b], params)
    # Everything a computed is cached now (its last prompt token included, to the token).
    assert eng.cached_prefix(a) == len(a)
    assert eng.cached_prefix(b) == len(b)
    # Since the stamp: a's K/V was there before, b's own tokens came after; b shares 40 + the
    # tokens of ": " it has in common with a.
    assert eng.cached_prefix(a, before=stamp) == len(a)
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert shared >= 40 and eng.cached_prefix(b, before=stamp) == shared
    assert eng.cached_prefix(b, before=0) == 0
