"""Cross-operator scheduling: one depth-first stream for independent operators, downstream
operators joining the running batch, and the optimizer-off ("vLLM-style") path."""

from __future__ import annotations

from heliumsql.prompting import chat_token_ids
from heliumsql.workflow.prompt_tree import PromptTree

from runtime_helpers import INSTRUCTION, WORKFLOW, RecordingEngine, assert_engine_idle

TWO_CALLS = (f"SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 3) AS x, "
             f"llm('{INSTRUCTION} About: {{descr}}', max_tokens => 3) AS y FROM items ORDER BY id")

# x and y are independent; z reads x only, and y generates longer than x.
PIPELINE = f"""
WITH a AS (SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 2) AS x FROM items),
     b AS (SELECT id, llm('{INSTRUCTION} About: {{descr}}', max_tokens => 12) AS y FROM items),
     c AS (SELECT id, llm('{INSTRUCTION} Then: {{x}}', max_tokens => 2) AS z FROM a)
SELECT b.id, y, z FROM b JOIN c ON b.id = c.id ORDER BY b.id
"""


def rows_prompts(con, template_sql: str) -> list[str]:
    return [r[0] for r in con.sql(template_sql).fetchall()]


def test_independent_operators_reach_the_engine_as_one_depth_first_stream(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine)
    res = con.sql(TWO_CALLS)
    assert len(engine.calls) == 1, "both operators' prompts go in one stream call"
    (sent,) = engine.calls
    assert sent == sorted(sent), "depth-first order of the prompt tree: sorted token ids"
    tok = engine.tokenizer
    names = {f"{INSTRUCTION} Name: {n}" for n in rows_prompts(con, "SELECT name FROM items")}
    about = {f"{INSTRUCTION} About: {d}" for d in rows_prompts(con, "SELECT descr FROM items")}
    expected = sorted(chat_token_ids(tok, p) for p in names | about)
    assert sent == expected  # each distinct prompt once, from both operators
    x, y = res.analyze.operators.values()
    assert (x.rows_in, x.distinct_prompts, y.distinct_prompts) == (10, 8, 8)
    assert_engine_idle(engine._engine)


def test_optimizer_off_sends_each_operator_in_arrival_order_with_repeats(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine, optimize=False)
    con.sql(TWO_CALLS)
    assert len(engine.calls) == 2, "operator by operator"
    tok = engine.tokenizer
    names = rows_prompts(con, "SELECT name FROM items")  # table order: the arrival order
    assert engine.calls[0] == [chat_token_ids(tok, f"{INSTRUCTION} Name: {n}") for n in names]
    assert len(engine.calls[1]) == 10  # repeats included: two rows share a description
    assert not any(e[0] == "pin" for e in engine.events)
    assert_engine_idle(engine._engine)


def test_a_downstream_operator_joins_the_running_batch(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine)
    con.sql(PIPELINE)
    first, *rest = engine.calls
    assert len(first) == 16  # x and y together
    # z's prompts, each once; with row-level pipelining some go out before x and y finish.
    z_prompts = [tuple(p) for call in rest for p in call]
    assert z_prompts and len(set(z_prompts)) == len(z_prompts)
    # z's first stream opened while the x+y stream was still answering (y still generating).
    opened = engine.events.index(("open", 1))
    assert ("answer", 0) in engine.events[opened:]

    off = RecordingEngine(make_engine())
    connect(off, optimize=False).sql(PIPELINE)
    assert len(off.calls) == 3
    streams = [e for e in off.events if e[0] != "answer"]
    assert streams == [("open", 0), ("end", 0), ("open", 1), ("end", 1), ("open", 2), ("end", 2)]


def test_prefill_efficiency_reaches_the_distinct_token_bound(make_engine, connect):
    # Block size 1: the KV cache can share any prefix, so the bound is reachable exactly.
    engine = RecordingEngine(make_engine(block_size=1))
    stats = connect(engine).sql(WORKFLOW).analyze
    sent = [p for call in engine.calls for p in call]
    assert stats.distinct_prompt_tokens == PromptTree.distinct_tokens(sent)
    assert stats.computed_prefill_tokens == engine.stats()["computed_prefill_tokens"]
    assert stats.prefill_efficiency >= 0.99
    off_engine = make_engine(block_size=1)
    off = connect(off_engine, optimize=False).sql(WORKFLOW).analyze
    assert off.engine_requests == 30 and stats.engine_requests == 24  # repeats sent when off
    assert stats.computed_prefill_tokens <= off.computed_prefill_tokens


def test_default_block_size_computes_no_more_than_optimizer_off(make_engine, connect):
    on = connect(make_engine()).sql(WORKFLOW).analyze
    off = connect(make_engine(), optimize=False).sql(WORKFLOW).analyze
    assert on.computed_prefill_tokens < off.computed_prefill_tokens
    # Cached K/V is reused down to the token; what is left to lose are answers sharing their
    # first characters, computed side by side in one step (0.956 on this model).
    assert on.prefill_efficiency > 0.9


def test_identical_prompts_of_different_operators_are_computed_once(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine)
    con.sql("CREATE TABLE pairs AS SELECT * FROM (VALUES ('red', 'blue'), ('blue', 'green')) t(u, v)")
    res = con.sql("SELECT u, llm('Color {u}', max_tokens => 3) AS a, "
                  "llm('Color {v}', max_tokens => 3) AS b FROM pairs ORDER BY u")
    assert len(engine.calls[0]) == 3  # 'Color blue' is asked by both operators
    a, b = res.analyze.operators.values()
    assert a.distinct_prompts == b.distinct_prompts == 2
    assert a.engine_requests + b.engine_requests == 3
    rows = res.fetchall()
    assert rows[0][1] == rows[1][2]  # u='blue' row's a equals the 'blue' answer as b


def test_limit_over_a_filter_stops_once_enough_rows_passed(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine)
    con.sql("CREATE TABLE t AS SELECT range AS i, 'item number ' || range AS s FROM range(60)")
    query = "SELECT i FROM t WHERE llm_filter('Keep {s}?') ORDER BY i LIMIT 3"
    assert "limit" in con.explain(query)
    on = con.sql(query)
    (flt,) = on.analyze.operators.values()
    assert flt.engine_requests < 60 and flt.on_demand_prompts == 0
    # Asked in input order, a few at a time: never one stream with everything.
    assert all(len(call) < 60 for call in engine.calls)
    off = connect(make_engine(), optimize=False)
    off.sql("CREATE TABLE t AS SELECT range AS i, 'item number ' || range AS s FROM range(60)")
    assert on.fetchall() == off.sql(query).fetchall()
    assert len(on.fetchall()) == 3
    assert_engine_idle(engine._engine)
