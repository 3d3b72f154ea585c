"""Proactive caching: shared prefixes pinned from first use to last consumer, eviction ranked
by remaining planned uses, and nothing left pinned after a query, however it ends."""

from __future__ import annotations

import pytest
from runtime_helpers import WORKFLOW, PinLog, RecordingEngine, assert_engine_idle

from heliumsql.engine import SamplingParams
from heliumsql.engine.radix import chain_keys
from heliumsql.errors import CancelledError
from heliumsql.prompting import chat_token_ids
from heliumsql.workflow.prompt_tree import PromptTree

S = "Shared rules: answer briefly, cite nothing, stay on topic. " * 2
T = "Different stage instructions that are long enough to fill blocks. " * 4
# Stage 1 and stage 3 share the instruction S; stage 2 (between them) uses another one, over
# three times as many rows.
STAGES = f"""
WITH s1 AS (SELECT id, llm('{S} Name: {{name}}', max_tokens => 3) AS a FROM items WHERE id <= 8),
     s2 AS (SELECT id, llm('{T} Next: {{a}} #{{k}}', max_tokens => 3) AS b
            FROM s1, (VALUES (1), (2), (3)) v(k)),
     s3 AS (SELECT id, llm('{S} Final: {{b}}', max_tokens => 3) AS c FROM s2)
SELECT id, c FROM s3 ORDER BY id
"""


def test_shared_prefix_is_pinned_up_front_and_kept_until_its_last_consumer(make_engine, connect):
    engine = RecordingEngine(make_engine())
    pins = PinLog(engine)
    res = connect(engine).sql(STAGES)
    # Streams by stage (row-level pipelining may split a stage over several streams).
    text = [[engine.tokenizer.decode(p) for p in call] for call in engine.calls]
    stage1 = [i for i, call in enumerate(text) if any("Name: " in t for t in call)]
    stage3 = [i for i, call in enumerate(text) if any("Final: " in t for t in call)]
    assert stage1 == [0] and stage3
    s_prompts = engine.calls[0] + [p for i in stage3 for p in engine.calls[i]]
    s_prefix = tuple(chat_token_ids(engine.tokenizer, S))[:len(S) // 16 * 16]
    shared = [h for h, ids in pins.live.items()
              if len(ids) >= 16 and all(p[:len(ids)] == list(ids) for p in s_prompts)]
    assert shared, "the instruction stages 1 and 3 share was pinned"
    handle = shared[0]
    assert len(pins.live[handle]) >= len(s_prefix) - 16
    events = engine.events
    assert events.index(("pin", handle)) < events.index(("open", 0))  # up front
    # Still pinned when stage 3's last stream opened (through all of stage 2), released after.
    assert events.index(("open", stage3[-1])) < events.index(("unpin", handle))
    assert res.analyze.pinned_prefixes == len(pins.live)
    assert_engine_idle(engine._engine)


def test_pinned_prefix_stays_resident_under_memory_pressure(make_engine, connect):
    engine = RecordingEngine(make_engine(num_blocks=30))
    pins = PinLog(engine)
    stats = connect(engine).sql(STAGES).analyze
    assert stats.evictions > 0, "the pool was too small to keep everything"
    final = [p for call in engine.calls for p in call
             if "Final: " in engine.tokenizer.decode(p)]  # stage 3, over however many streams
    longest_shared = max(len(ids) for ids in pins.live.values()
                         if all(p[:len(ids)] == list(ids) for p in final))
    stage3 = stats.operators[3]
    # Every stage-3 request found the whole pinned instruction in the KV cache.
    assert stage3.cached_tokens >= stage3.engine_requests * longest_shared
    assert_engine_idle(engine._engine)


def test_eviction_ranks_by_remaining_planned_uses_not_recency(make_engine):
    def run(priority_for_a: bool) -> int:
        engine = make_engine(num_blocks=12, block_size=16)
        tok = engine.tokenizer
        a = chat_token_ids(tok, "A" * 60)  # 4 full blocks; used first (least recent)
        b = chat_token_ids(tok, "B" * 60)
        params = SamplingParams(max_tokens=1)
        engine.generate([a], params)
        engine.generate([b], params)
        tree = PromptTree()
        if priority_for_a:
            tree.add_template(7, a[:64])  # a later node will use a's prefix
            engine.set_eviction_priority(tree.priority)
        engine.generate([chat_token_ids(tok, "C" * 60)], params)  # needs blocks: evicts
        engine.set_eviction_priority(None)
        return engine.radix.match_length(list(chain_keys(a, 16)))

    assert run(priority_for_a=False) < 4  # LRU: a was least recently used, so it went first
    assert run(priority_for_a=True) == 4  # planned use outranks recency: a stays


def test_nothing_stays_pinned_after_a_cancelled_query(make_engine, connect):
    engine = make_engine()
    con = connect(engine)
    calls = 0

    def cancel_on_third(_progress) -> None:  # noqa: ANN001
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    with pytest.raises(CancelledError):
        con.sql(WORKFLOW, progress=cancel_on_third)
    assert_engine_idle(engine)
    assert not engine.scheduler.has_work  # unfinished requests were aborted
    assert len(con.sql(WORKFLOW).fetchall()) == 10  # connection and engine still work
    assert_engine_idle(engine)


def test_short_shared_prefixes_are_pinned_to_the_token(make_engine, connect):
    # Static prefixes shorter than a KV block (the chat wrapper and "Say "): pinned as they are,
    # so the 30 requests reuse them instead of each computing them in the same first step
    # (cut to whole blocks nothing was pinned and efficiency was 0.80; what is left to lose
    # are values sharing their first characters, computed side by side in one step).
    sql = ("SELECT id, llm('Say {name}', max_tokens => 2) AS a, llm('Say {descr}', max_tokens => 2) AS b, "
           "llm('Name {descr}', max_tokens => 2) AS c FROM items ORDER BY id")
    engine = make_engine()
    stats = connect(engine).sql(sql).analyze
    assert stats.pinned_prefixes >= 1 and 0 < stats.pinned_tokens
    assert stats.prefill_efficiency >= 0.93
    assert_engine_idle(engine)
