"""The declared engine contract (``engine/interface.py``) and the engine's independence.

The local engine implements the base protocol and the prefix-caching capability; the Hugging
Face reference backend implements the base only, so a runtime that asks
``isinstance(engine, PrefixCachingEngine)`` takes its plain path with it (issue 10, items 3-4).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import heliumsql.engine
from heliumsql.engine import (CompletionStream, Engine, EngineBackend, PrefixCachingEngine,
                              PromptTooLongError, SamplingParams)

ENGINE_DIR = Path(heliumsql.engine.__file__).parent
PARAMS = SamplingParams(max_tokens=5, ignore_eos=True)


@pytest.fixture()
def engine(model_paths):  # noqa: ANN001
    return Engine(model_paths["llama"], block_size=4, num_blocks=64, partial_blocks=False)


def test_the_local_engine_has_the_prefix_caching_capability(engine) -> None:  # noqa: ANN001
    assert isinstance(engine, EngineBackend) and isinstance(engine, PrefixCachingEngine)
    assert (engine.block_size, engine.num_blocks, engine.partial_blocks) == (4, 64, False)
    # The old attribute paths still answer the same.
    assert (engine.config.block_size, engine.pool.num_blocks) == (4, 64)
    assert isinstance(engine.stream(["x"], PARAMS), CompletionStream)


def test_the_reference_backend_implements_the_base_only(references) -> None:  # noqa: ANN001
    hf = references["llama"]
    assert isinstance(hf, EngineBackend) and not isinstance(hf, PrefixCachingEngine)
    stream = hf.stream(["one", "two"], PARAMS)
    assert isinstance(stream, CompletionStream) and stream.num_ready() == 0
    assert next(stream).index == 0
    before = hf.stats()["prompt_tokens"]
    hf.cancel(stream)
    hf.cancel(stream)  # idempotent
    assert list(stream) == [] and hf.stats()["prompt_tokens"] == before  # "two" never ran


def test_cancel_aborts_a_stream_and_frees_its_blocks(engine, references) -> None:  # noqa: ANN001
    prompts = [f"{word} request to cancel" for word in ("red", "green", "blue", "gold")]
    params = [SamplingParams(max_tokens=1 + 6 * i, ignore_eos=True) for i in range(4)]
    stream = engine.stream(prompts, params)
    assert engine.num_queued() == 4
    assert next(stream).index == 0
    assert engine.num_queued() == 3
    held = engine.pool.num_blocks - engine.pool.num_free - engine.radix.num_evictable
    assert held > 0  # the running requests hold blocks
    engine.cancel(stream)
    engine.cancel(stream)  # idempotent
    assert engine.num_queued() == 0
    assert engine.radix.num_protected == 0  # nothing locked: every block free or evictable
    assert engine.pool.num_free + engine.radix.num_blocks == engine.pool.num_blocks
    assert list(stream) == []
    got = engine.generate(prompts[:2], PARAMS)
    assert [c.token_ids for c in got] == \
           [c.token_ids for c in references["llama"].generate(prompts[:2], PARAMS)]


def test_cancel_from_another_thread_stops_a_stream_being_read(engine) -> None:  # noqa: ANN001
    """A server's client leaves while another thread reads its stream: cancel takes effect at
    once (the reader sees the end of the stream) instead of when its answer finishes."""
    import threading

    import time

    stream = engine.stream(["a long answer nobody waits for"],
                           SamplingParams(max_tokens=200, ignore_eos=True))
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(stream))
    started = engine.stats()["steps"]
    reader.start()
    time.sleep(0.05)  # the reader is stepping the engine (stats() would wait for its lock)
    engine.cancel(stream)
    reader.join(timeout=60)
    assert not reader.is_alive() and got == []  # ended without its 200 tokens
    assert engine.stats()["steps"] < started + 150
    assert engine.num_queued() == 0 and engine.radix.num_protected == 0


def test_prefix_capability_methods_work_through_the_protocol(engine) -> None:  # noqa: ANN001
    ids = engine.encode("a shared instruction for every row: ")
    stamp = engine.cache_stamp()
    handle = engine.pin(ids)
    whole = len(ids) // engine.block_size * engine.block_size  # full blocks (partial_blocks off)
    assert engine.cached_prefix(ids) == whole and engine.cached_prefix(ids, before=stamp) == 0
    engine.set_eviction_priority(lambda tokens: 0.0)
    engine.unpin(handle)
    engine.set_eviction_priority(None)
    assert engine.num_queued() == 0


@pytest.mark.parametrize("as_text", [True, False])
def test_prompt_too_long_carries_the_row_and_a_cut_excerpt(engine, as_text) -> None:  # noqa: ANN001
    text = "Summarize this very long review please. " * 60
    prompt = text if as_text else engine.encode(text)
    with pytest.raises(PromptTooLongError) as err:
        engine.generate(["short", prompt], PARAMS)
    assert err.value.request_index == 1
    assert err.value.excerpt.startswith("Summarize this very long review") or not as_text
    assert err.value.excerpt.endswith("…") and len(err.value.excerpt) == 81
    assert err.value.excerpt in str(err.value) and "prompt 1" in str(err.value)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_engine_imports_nothing_from_heliumsql_outside_itself() -> None:
    """``engine/`` stands alone: other backends and the runtime depend on it, never the reverse."""
    files = sorted(ENGINE_DIR.glob("*.py"))
    assert len(files) > 10
    outside = [(f.name, name) for f in files for name in _imports(f)
               if (name == "heliumsql" or name.startswith("heliumsql."))
               and not (name == "heliumsql.engine" or name.startswith("heliumsql.engine."))]
    assert outside == []
