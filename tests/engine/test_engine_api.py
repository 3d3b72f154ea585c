"""The Engine API: streaming, cancellation, threads, pins, stats, errors, bounded memory."""

from __future__ import annotations

import threading

import pytest

from heliumsql.engine import Engine, EngineBackend, SamplingParams
from heliumsql.engine.radix import chain_keys
from heliumsql.errors import EngineError

GREEDY = SamplingParams(max_tokens=6)


def assert_idle_and_clean(eng: Engine, pinned_nodes: int = 0) -> None:
    """Nothing queued or running, every block either free or cached, and no lock left over
    (except the pins' own)."""
    assert not eng.scheduler.waiting and not eng.scheduler.running
    assert eng.pool.num_free + eng.radix.num_blocks == eng.pool.num_blocks
    locked = [n for n in eng.radix.nodes() if n.lock_ref]
    assert len(locked) == pinned_nodes
    free = [b for b in range(eng.pool.num_blocks) if eng.pool.is_free(b)]
    cached = [n.block for n in eng.radix.nodes()]
    assert sorted(free + cached) == list(range(eng.pool.num_blocks))


@pytest.fixture()
def engine(model_paths):  # noqa: ANN001
    return Engine(model_paths["llama"], block_size=4, num_blocks=64)


def test_engine_implements_the_backend_protocol(engine):  # noqa: ANN001
    assert isinstance(engine, EngineBackend)
    assert engine.max_context == 1024 and len(engine.fingerprint) == 16
    assert engine.encode("ab") == engine.tokenizer("ab", add_special_tokens=True)["input_ids"]


def test_stream_yields_every_request_once_tagged_with_its_index(engine, references):  # noqa: ANN001
    prompts = [f"stream {i}" for i in range(5)]
    params = [SamplingParams(max_tokens=1 + 3 * i, ignore_eos=True) for i in range(5)]
    got = list(engine.stream(prompts, params))
    assert sorted(c.index for c in got) == list(range(5))
    assert [c.index for c in got][0] == 0  # the one-token request finishes first
    want = references["llama"].generate(prompts, params)
    assert {c.index: c.token_ids for c in got} == {c.index: c.token_ids for c in want}
    assert_idle_and_clean(engine)


def test_closing_a_stream_aborts_its_requests(engine, references):  # noqa: ANN001
    prompts = [f"abandoned {i}" for i in range(6)]
    params = [SamplingParams(max_tokens=2 + 5 * i, ignore_eos=True) for i in range(6)]
    it = engine.stream(prompts, params)
    first = next(it)
    assert first.index == 0
    assert engine.scheduler.running or engine.scheduler.waiting
    it.close()
    assert_idle_and_clean(engine)
    again = engine.generate(prompts[:2], GREEDY)
    assert [c.token_ids for c in again] == \
           [c.token_ids for c in references["llama"].generate(prompts[:2], GREEDY)]


def test_open_streams_share_batches_whichever_is_read_first(engine, references):  # noqa: ANN001
    # A stream's requests are queued when stream() is called, so reading the second stream
    # first still runs both requests together: one step per new token, not one per request.
    params = SamplingParams(max_tokens=6, ignore_eos=True)
    engine.reset_stats()
    first = engine.stream(["first stream"], params)
    second = engine.stream(["second stream"], params)
    assert second.num_ready() == 0
    got = next(second)
    assert first.num_ready() == 1  # finished in the same steps, answered without another
    assert engine.stats()["steps"] == 6
    assert [got.token_ids, next(first).token_ids] == \
           [c.token_ids for c in references["llama"].generate(["second stream", "first stream"],
                                                              params)]


def test_closing_an_unread_stream_aborts_its_requests(engine):  # noqa: ANN001
    it = engine.stream([f"never read {i}" for i in range(3)], SamplingParams(max_tokens=4))
    assert engine.scheduler.waiting
    it.close()
    assert_idle_and_clean(engine)


def test_keyboard_interrupt_mid_step_leaves_the_engine_usable(engine, references):  # noqa: ANN001
    calls = {"n": 0}

    def interrupt(module, args):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    hook = engine.model.model.layers[1].register_forward_pre_hook(interrupt)
    prompts = [f"interrupted {i} " * 3 for i in range(4)]
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.generate(prompts, SamplingParams(max_tokens=8))
    finally:
        hook.remove()
    assert_idle_and_clean(engine)
    got = engine.generate(prompts, SamplingParams(max_tokens=8))
    want = references["llama"].generate(prompts, SamplingParams(max_tokens=8))
    assert [c.token_ids for c in got] == [c.token_ids for c in want]


def test_threads_share_steps_and_get_their_own_results(engine, references):  # noqa: ANN001
    groups = [[f"thread {t} prompt {i}" for i in range(3)] for t in range(4)]
    params = SamplingParams(max_tokens=8, ignore_eos=True)
    results: dict[int, list] = {}
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        # Each thread's requests are queued when it opens its stream; once all four have,
        # whichever thread steps the engine runs everyone's (the lock is not fair, so threads
        # that only started at the same time may still take turns).
        stream = engine.stream(groups[t], params)
        barrier.wait()
        results[t] = sorted(stream, key=lambda c: c.index)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ref = references["llama"]
    for t in range(4):
        assert [c.token_ids for c in results[t]] == [c.token_ids for c in ref.generate(groups[t], params)]
    # Run one after another, the four calls would need 4 x 8 steps.
    assert engine.stats()["steps"] < 32
    assert_idle_and_clean(engine)


def test_pinned_prefix_survives_eviction_pressure_until_unpinned(engine):  # noqa: ANN001
    prefix = engine.encode("A pinned system prompt, reused later.")
    keys = list(chain_keys(prefix, 4))
    assert len(prefix) % 4  # the pin's last block is partial: the pin keeps it too
    handle = engine.pin(prefix)
    assert engine.radix.match_length(keys) == len(keys)
    for round_ in range(4):  # unrelated traffic that overflows the 64-block pool
        engine.generate([f"traffic {round_}-{i} " * 4 for i in range(4)], GREEDY)
        assert engine.radix.match_length(keys) == len(keys)
    assert engine.stats()["evictions"] > 0
    assert_idle_and_clean(engine, pinned_nodes=len(keys) + 1)
    out = engine.generate([prefix + engine.encode(" and a question")[1:]], GREEDY)[0]
    assert out.num_cached_tokens == len(prefix)
    engine.unpin(handle)
    assert_idle_and_clean(engine)
    for round_ in range(4):
        engine.generate([f"more traffic {round_}-{i} " * 4 for i in range(4)], GREEDY)
    assert engine.radix.match_length(keys) < len(keys)
    with pytest.raises(EngineError, match="unknown pin handle"):
        engine.unpin(handle)


def test_eviction_priority_hook_keeps_high_priority_prefixes(model_paths):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=4, num_blocks=48)
    keep = eng.encode("keep this prefix around please")
    eng.generate([keep], SamplingParams(max_tokens=1))
    keys = list(chain_keys(keep, 4))
    keep_tuple = tuple(keep)
    eng.set_eviction_priority(lambda tokens: 1.0 if keep_tuple[:len(tokens)] == tokens else 0.0)
    for round_ in range(4):
        eng.generate([f"filler {round_}-{i} " * 3 for i in range(3)], GREEDY)
    assert eng.stats()["evictions"] > 0
    assert eng.radix.match_length(keys) == len(keys)


def test_stats_count_work_and_reset(engine):  # noqa: ANN001
    prompts = ["shared prefix for stats: one", "shared prefix for stats: two"]
    engine.generate(prompts, SamplingParams(max_tokens=3, ignore_eos=True))
    s = engine.stats()
    assert set(s) == {"prompt_tokens", "cached_tokens", "computed_prefill_tokens",
                      "generated_tokens", "preemptions", "evictions", "steps"}
    lengths = [len(engine.encode(p)) for p in prompts]
    assert s["prompt_tokens"] == sum(lengths)
    assert s["generated_tokens"] == 6
    assert s["cached_tokens"] > 0  # in-batch dedup: the second reused the first's blocks
    assert s["computed_prefill_tokens"] == sum(lengths) - s["cached_tokens"]
    engine.reset_stats()
    assert all(v == 0 for v in engine.stats().values())


def test_request_that_can_never_fit_is_an_engine_error(model_paths):  # noqa: ANN001
    eng = Engine(model_paths["llama"], block_size=4, num_blocks=6)
    with pytest.raises(EngineError, match="needs .* KV blocks"):
        eng.generate(["a prompt far longer than six blocks of four tokens"], GREEDY)
    assert_idle_and_clean(eng)
    handle = eng.pin(eng.encode("pinned pinned!"))  # 3 of the 6 blocks
    with pytest.raises(EngineError, match="pinned"):
        eng.generate(["sixteen tokens long"], SamplingParams(max_tokens=4))
    eng.unpin(handle)
    assert eng.generate(["sixteen tokens long"], SamplingParams(max_tokens=4))[0].token_ids


def test_models_with_unsupported_attention_are_rejected(model_paths):  # noqa: ANN001
    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma2Config, MistralConfig

    tok = AutoTokenizer.from_pretrained(model_paths["llama"])
    small = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                 max_position_embeddings=256)
    windowed = AutoModelForCausalLM.from_config(MistralConfig(sliding_window=64, **small))
    with pytest.raises(EngineError, match="sliding-window"):
        Engine((windowed, tok))
    capped = AutoModelForCausalLM.from_config(Gemma2Config(
        layer_types=["full_attention"] * 2, attn_logit_softcapping=50.0, **small))
    with pytest.raises(EngineError, match="softcapping"):
        Engine((capped, tok))


def test_a_thousand_requests_through_a_pool_for_ten(model_paths, references):  # noqa: ANN001
    # Each request: 8 prompt tokens + 4 new = 3 blocks of 4; the pool holds 30 blocks.
    eng = Engine(model_paths["llama"], block_size=4, num_blocks=30)
    k_ptr, shape = eng.pool.k.data_ptr(), tuple(eng.pool.k.shape)
    prompts = [f"r{i:05d}!" for i in range(1000)]
    params = SamplingParams(max_tokens=4, ignore_eos=True)
    out = eng.generate(prompts, params)
    assert [c.index for c in out] == list(range(1000))
    assert all(c.finish_reason == "length" for c in out)
    assert eng.stats()["generated_tokens"] == 4000
    assert (eng.pool.k.data_ptr(), tuple(eng.pool.k.shape)) == (k_ptr, shape)
    assert_idle_and_clean(eng)
    sample = [0, 1, 499, 998, 999]
    want = references["llama"].generate([prompts[i] for i in sample], params)
    assert [out[i].token_ids for i in sample] == [c.token_ids for c in want]
