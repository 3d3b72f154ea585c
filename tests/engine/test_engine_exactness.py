"""Greedy output of the paged engine is token-identical to Hugging Face ``generate``."""

from __future__ import annotations

import pytest

from heliumsql.engine import Engine, SamplingParams
from heliumsql.testing import ARCHITECTURES

SYSTEM = "You are a careful assistant. Answer in one short line. Context: "
GREEDY = SamplingParams(max_tokens=10)


def _prompts(tag: str) -> list[str]:
    return [SYSTEM + f"{tag} question {i}: what is {i} + {i * 7}?" for i in range(4)] + [
        f"{tag} unrelated prompt", "x" * 37]


def _same(engine_out, ref_out) -> None:  # noqa: ANN001
    assert [c.token_ids for c in engine_out] == [c.token_ids for c in ref_out]
    assert [c.text for c in engine_out] == [c.text for c in ref_out]
    assert [c.finish_reason for c in engine_out] == [c.finish_reason for c in ref_out]
    assert [c.num_prompt_tokens for c in engine_out] == [c.num_prompt_tokens for c in ref_out]
    assert [c.index for c in engine_out] == list(range(len(ref_out)))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_cold_cached_and_mixed_batches_match_hf(arch, model_paths, references):  # noqa: ANN001
    eng = Engine(model_paths[arch], block_size=4)
    ref = references[arch]
    cold = _prompts("first")
    _same(eng.generate(cold, GREEDY), ref.generate(cold, GREEDY))
    assert eng.stats()["cached_tokens"] > 0  # the shared system prompt was computed once

    # The same prompts again (fully cached) mixed with new ones sharing only the system part.
    mixed = cold[:3] + _prompts("second")[:3]
    out = eng.generate(mixed, GREEDY)
    _same(out, ref.generate(mixed, GREEDY))
    prompt_len = [len(eng.encode(p)) for p in mixed]
    assert [c.num_cached_tokens for c in out[:3]] == [n - 1 for n in prompt_len[:3]]
    assert all(c.num_cached_tokens >= len(eng.encode(SYSTEM)) // 4 * 4 for c in out[3:])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_preempted_and_recomputed_requests_match_hf(arch, model_paths, references):  # noqa: ANN001
    # 6 blocks of 4 tokens per request at most: 16 blocks cannot hold all 6 requests at once.
    eng = Engine(model_paths[arch], block_size=4, num_blocks=16)
    prompts = [f"preempt {i}: count" for i in range(6)]
    params = SamplingParams(max_tokens=8, ignore_eos=True)
    _same(eng.generate(prompts, params), references[arch].generate(prompts, params))
    assert eng.stats()["preemptions"] > 0


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_pool_small_enough_to_evict_matches_hf(arch, model_paths, references):  # noqa: ANN001
    eng = Engine(model_paths[arch], block_size=4, num_blocks=24)
    ref = references[arch]
    for round_ in range(3):
        prompts = [SYSTEM[:20] + f"round {round_} item {i}" for i in range(3)]
        _same(eng.generate(prompts, GREEDY), ref.generate(prompts, GREEDY))
    stats = eng.stats()
    assert stats["evictions"] > 0
    assert eng.pool.num_free + eng.radix.num_blocks == 24  # nothing leaked
