"""The FlexAttention path and the decode-graph path, on CPU, against Hugging Face ``generate``.

FlexAttention runs eagerly in most of them (compiling it on two busy CPU cores takes 5-40 s per
shape bucket): the eager kernel ignores the block mask's sparsity and evaluates the mask
everywhere, so they check the mask's exactness. One small ``slow`` test compiles it (C++ on
CPU), which also relies on the block lists; the Triton kernels and CUDA graph capture run in
``tests/engine/test_engine_gpu.py`` and ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import pytest

from heliumsql.engine import Engine, SamplingParams
from heliumsql.testing import ARCHITECTURES

SYSTEM = "You are a careful assistant. Context: "
PROMPTS = [SYSTEM + f"question {i}: what is {i} + {i * 7}?" for i in range(5)] + ["cold one"]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_flex_attention_is_token_identical_to_hf_generate(arch, model_paths, references) -> None:  # noqa: ANN001
    eng = Engine(model_paths[arch], device="cpu", block_size=4, num_blocks=96, attention="flex")
    assert eng.placement.describe() == "cpu float32, attention flex"
    params = SamplingParams(max_tokens=8)
    want = [c.token_ids for c in references[arch].generate(PROMPTS, params)]
    assert [c.token_ids for c in eng.generate(PROMPTS, params)] == want  # cold
    # Every prompt is cached now: prefill reads a cached prefix from the pool in place.
    assert [c.token_ids for c in eng.generate(PROMPTS[::-1], params)] == want[::-1]
    assert eng.stats()["cached_tokens"] > 0


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_padded_decode_buckets_are_token_identical(arch, model_paths, references) -> None:  # noqa: ANN001
    # Decode steps of 6, 5, ... sequences padded to buckets of 8 and 4: the padding rows
    # write only to the scratch slot and never change a real request's tokens.
    eng = Engine(model_paths[arch], device="cpu", block_size=4, num_blocks=96, attention="flex",
                 cuda_graphs=True, max_num_seqs=8)
    assert eng.runner.graphs.buckets == [1, 2, 4, 8]
    assert eng.pool.scratch_slot == 96 * 4
    graphs, sizes = eng.runner.graphs, []
    run = graphs.run
    graphs.run = lambda ids, tables, starts: sizes.append(len(ids)) or run(ids, tables, starts)
    params = SamplingParams(max_tokens=8)
    want = [c.token_ids for c in references[arch].generate(PROMPTS, params)]
    assert [c.token_ids for c in eng.generate(PROMPTS, params)] == want
    assert 6 in sizes  # the decode steps went through the padded path


@pytest.mark.slow
def test_compiled_flex_attention_on_cpu_is_token_identical(model_paths, references) -> None:  # noqa: ANN001
    # The compiled kernel visits only the blocks the block mask lists (the eager one reads
    # every slot), so this checks the block lists; kept to two prompts because compiling on
    # CPU takes seconds per shape bucket (prefill at batch 2, decode at batches 2 and 1).
    eng = Engine(model_paths["llama"], device="cpu", block_size=4, num_blocks=96,
                 attention="flex", compile_attention=True, cuda_graphs=True, max_num_seqs=2)
    assert eng.placement.compiled
    prompts, params = [PROMPTS[0], PROMPTS[-1]], SamplingParams(max_tokens=6)
    want = [c.token_ids for c in references["llama"].generate(prompts, params)]
    assert [c.token_ids for c in eng.generate(prompts, params)] == want
    assert [c.token_ids for c in eng.generate(prompts[::-1], params)] == want[::-1]  # cached


def test_a_failing_flex_kernel_falls_back_to_the_torch_path(model_paths, references) -> None:  # noqa: ANN001
    # What happens on a GPU where Triton or graph capture fails: the step is rerun on the torch
    # path, which the engine keeps; the answers are the same and placement says what runs.
    eng = Engine(model_paths["qwen3"], device="cpu", block_size=4, num_blocks=96,
                 attention="flex")

    def broken(*args: object) -> None:
        raise RuntimeError("triton: no kernel for this shape")

    eng.runner.flex = broken
    params = SamplingParams(max_tokens=6)
    want = [c.token_ids for c in references["qwen3"].generate(PROMPTS, params)]
    with pytest.warns(RuntimeWarning, match="FlexAttention failed .*no kernel"):
        got = [c.token_ids for c in eng.generate(PROMPTS, params)]
    assert got == want
    assert eng.placement.describe() == "cpu float32, attention torch"
