"""EXPLAIN ANALYZE and Result.analyze: per-operator and per-query figures that add up."""

from __future__ import annotations

import re

from runtime_helpers import WORKFLOW


def figures(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def test_explain_analyze_reports_every_figure(make_engine, connect):
    engine = make_engine(block_size=1)
    text = connect(engine).sql(f"EXPLAIN ANALYZE {WORKFLOW}").fetchall()[0][0]
    analyzed = [figures(line) for line in text.splitlines() if line.strip().startswith("analyze")]
    assert len(analyzed) == 3
    for op in analyzed:
        for name in ("distinct_prompts", "prompt_tokens", "cached_tokens", "computed_tokens",
                     "result_cache_hits", "generated_tokens", "time"):
            assert name in op, name
        assert int(op["computed_tokens"]) == int(op["prompt_tokens"]) - int(op["cached_tokens"])
    (total,) = [figures(line) for line in text.splitlines() if line.strip().startswith("Total")]
    assert float(total["prefill_efficiency"]) >= 0.99  # block size 1: every shared token reused
    assert total["planning_time"].endswith("ms") and float(total["planning_time"][:-2]) > 0
    assert int(total["distinct_prompt_tokens"]) <= int(total["computed_prefill_tokens"]) + 1
    assert text.splitlines()[-1] == "  Engine  cpu float32, attention torch"  # what ran


def test_operator_figures_add_up_to_the_engine_counters(make_engine, connect):
    engine = make_engine()
    stats = connect(engine).sql(WORKFLOW).analyze
    counters = engine.stats()
    assert stats.prompt_tokens == counters["prompt_tokens"]  # pins are not requests
    # Completions drop trailing padding the engine sampled, so they may count a little less.
    assert 0 < stats.generated_tokens <= counters["generated_tokens"]
    assert stats.computed_prefill_tokens == counters["computed_prefill_tokens"]
    ops = stats.operators.values()
    # What operators prefilled, plus what the pins prefilled up front, is what the engine did.
    assert sum(s.computed_tokens for s in ops) <= stats.computed_prefill_tokens
    assert stats.engine_requests == sum(s.engine_requests for s in ops) == 24
    assert 0 < stats.kv_hit_rate < 1 and stats.pinned_prefixes >= 1
    assert "prefill_efficiency=" in str(stats)


def test_prefill_efficiency_counts_only_what_the_query_had_to_compute(make_engine, connect):
    # A second query over a warm engine: the K/V the first one left is reused, not credited as
    # this query's work, so efficiency stays at most 1.0 (it used to read above it).
    engine = make_engine()
    con = connect(engine)
    cold = con.sql(WORKFLOW).analyze
    assert cold.reused_prompt_tokens == 0 and 0.9 <= cold.prefill_efficiency <= 1.0
    warm = con.sql(WORKFLOW.replace("max_tokens => 3", "max_tokens => 4")).analyze
    assert warm.reused_prompt_tokens > 0
    assert warm.distinct_prompt_tokens - warm.reused_prompt_tokens <= warm.computed_prefill_tokens
    assert 0.9 <= warm.prefill_efficiency <= 1.0
    assert "reused_prompt_tokens=" in str(warm)


def test_prefill_efficiency_under_a_limit_counts_answered_prompts_only(make_engine, connect):
    engine = make_engine()
    stats = connect(engine).sql(
        "SELECT id FROM items WHERE llm_filter('Is this about food? {name}') ORDER BY id LIMIT 1"
    ).analyze
    assert stats.prefill_efficiency is not None and stats.prefill_efficiency <= 1.0
