"""The workflow suite's parts: data generators, prompt rendering, the vLLM-style scheduler, the
benchmark model, and the report's targets. Models here are the quick (tiny) shape."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
import torch

import heliumsql
from benchmarks.record import Result, RunOptions
from benchmarks.workflows.engines import ReactiveEngine, RecordingEngine
from benchmarks.workflows.model import QUICK_SHAPE, build_model, printable_token_ids
from benchmarks.workflows.results import GeoMeanTarget, PlanningTarget, WorkflowReport, WorkflowResult
from benchmarks.workflows import multi_agent, text
from benchmarks.workflows.suite import WORKLOADS, _mismatches, selected
from benchmarks.workflows.systems import EngineLlm
from benchmarks.workflows.workload import aggregate, load_tables, record, render, sql_string
from heliumsql.engine import SamplingParams


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # As the suite does on CPU: tiny models on a shared machine run far faster on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny() -> tuple:
    return build_model(QUICK_SHAPE, seed=0)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_data_is_deterministic_per_seed(workload) -> None:  # noqa: ANN001
    sizes = workload.sizes["quick"]
    assert workload.data(sizes, 0) == workload.data(sizes, 0)
    assert workload.data(sizes, 0) != workload.data(sizes, 1)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_full_sizes_have_long_shared_instructions(workload) -> None:  # noqa: ANN001
    # Every workload's SQL carries at least one template of several hundred characters
    # (one token per byte with the benchmark's tokenizer).
    statements = workload.statements(workload.sizes["full"])
    longest = max(len(part) for s in statements for part in s.split("'"))
    assert longest >= 300 or workload.name == "records"
    assert all("llm" in s for s in statements)


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_sql_and_agent_send_the_same_prompts(workload, tiny) -> None:  # noqa: ANN001
    """The SQL (optimizer off: every call as written) and the agent-style twin issue the
    same set of prompts and get the same rows."""
    model, tokenizer = tiny
    sizes = workload.sizes["quick"]
    tables = workload.data(sizes, 0)
    sql_engine = RecordingEngine((model, tokenizer))
    con = heliumsql.connect(engine=sql_engine, optimize=False)
    load_tables(con.duckdb, tables)
    rows = [sorted(con.sql(s).fetchall(), key=repr) for s in workload.statements(sizes)]
    agent_engine = RecordingEngine((model, tokenizer))
    agent_rows = workload.agent(tables, EngineLlm(agent_engine), sizes)
    assert rows == [sorted(r, key=repr) for r in agent_rows]
    sql_prompts = {tuple(p) for p in sql_engine.issued}
    agent_prompts = {tuple(p) for p in agent_engine.issued}
    if workload.name == "records":
        # The agent's filter loop stops at the LIMIT; SQL without the optimizer filters all.
        assert agent_prompts <= sql_prompts
    else:
        assert agent_prompts == sql_prompts


def test_rendering_matches_duckdb() -> None:
    con = duckdb.connect()
    load_tables(con, {"t": [dict(a="x'y", n=3, z=None)]})
    assert con.execute("SELECT a || CAST(n AS VARCHAR) || COALESCE(z, '') FROM t").fetchone()[0] == \
        render("{a}{t.n}{z}", a="x'y", n=3, z=None)
    assert con.execute(f"SELECT {sql_string(chr(10).join(['it' + chr(39) + 's', 'b']))}").fetchone()[0] == "it's\nb"
    assert record("Q?", ("a", 1), ("b", None)) == "Q?\na: 1\nb: "
    assert aggregate(["b", "a", None]) == "\na\nb"


def test_model_only_emits_printable_ascii_and_never_stops_early(tiny) -> None:
    model, tokenizer = tiny
    printable = set(printable_token_ids(tokenizer))
    assert len(printable) == 95
    engine = RecordingEngine((model, tokenizer))
    done = engine.generate(["hello", "a much longer prompt about markets", "x" * 300],
                           SamplingParams(max_tokens=20))
    for c in done:
        assert len(c.token_ids) == 20 and set(c.token_ids) <= printable
        assert c.finish_reason == "length"


def test_reactive_engine_admits_in_arrival_order_without_in_batch_dedup(tiny) -> None:
    """Two requests that share an uncached 64-token prefix, sent together: the shipped engine
    computes the prefix once; the vLLM-style one computes it for each (then both cache it)."""
    model, tokenizer = tiny
    prefix = list(range(10, 74))
    prompts = [prefix + [100, 101, 102], prefix + [110, 111, 112]]
    computed = {}
    for cls in (RecordingEngine, ReactiveEngine):
        engine = cls((model, tokenizer))
        out = engine.generate(prompts, SamplingParams(max_tokens=3))
        computed[cls.__name__] = engine.stats()["computed_prefill_tokens"]
        assert [len(c.token_ids) for c in out] == [3, 3]
    assert computed["RecordingEngine"] == 64 + 2 * 3
    assert computed["ReactiveEngine"] == 2 * 67


def test_reactive_engine_keeps_arrival_order(tiny) -> None:
    model, tokenizer = tiny
    engine = ReactiveEngine((model, tokenizer), max_num_seqs=1)
    order = [c.index for c in engine.stream([[200, 5], [50, 5], [120, 5]],
                                            SamplingParams(max_tokens=1))]
    assert order == [0, 1, 2]
    sorted_engine = RecordingEngine((model, tokenizer), max_num_seqs=1)
    order = [c.index for c in sorted_engine.stream([[200, 5], [50, 5], [120, 5]],
                                                   SamplingParams(max_tokens=1))]
    assert order == [1, 2, 0]


def test_mismatches_count_rows_as_multisets() -> None:
    assert _mismatches([[(1, "a"), (2, "b")]], [[(2, "b"), (1, "a")]]) == 0
    assert _mismatches([[(1, "a"), (2, "b")]], [[(1, "a"), (2, "c")]]) == 1
    assert _mismatches([[(1, "a")], [(3,)]], [[(1, "a")]]) == 1
    assert _mismatches([[(1, "a"), (1, "a")]], [[(1, "a")]]) == 1


def _result(workload: str, system: str, wall: float, planning: tuple[float, ...] = ()) -> Result:
    return WorkflowResult("workflows", workload, system, system, (wall,), 1, 10, 5, 5, 1, 0,
                          cached_tokens=5, planning_s=planning)


def test_geometric_mean_and_planning_targets() -> None:
    results = [_result("a", "heliumsql", 1.0, (0.01, 0.06)), _result("a", "vllm_style", 4.0),
               _result("b", "heliumsql", 2.0, (0.02,)), _result("b", "vllm_style", 2.0)]
    speed = GeoMeanTarget("all", "heliumsql", "vllm_style", 1.5)
    assert speed.measure(results) == pytest.approx(2.0)
    planning = PlanningTarget("all", "heliumsql", None, 0.0, maximum_ms=50.0)
    assert planning.measure(results) == pytest.approx(60.0)
    checks = WorkflowReport("workflows", results, [speed, planning], "heliumsql").target_checks()
    assert [c["met"] for c in checks] == [True, False]


def test_workloads_and_size_presets_are_chosen_by_name() -> None:
    assert [w.name for w in selected(RunOptions())] == [w.name for w in WORKLOADS]
    assert [w.name for w in selected(RunOptions(size="large", workloads=("multi_agent",)))] == [
        "multi_agent"]
    with pytest.raises(SystemExit, match="unknown workload.*'nope'"):
        selected(RunOptions(workloads=("nope",)))
    with pytest.raises(SystemExit, match="map_reduce has no size 'large'"):
        selected(RunOptions(size="large"))


def test_large_multi_agent_shares_the_house_rules_and_writes_longer_answers() -> None:
    full, large = (multi_agent.WORKLOAD.statements(multi_agent.WORKLOAD.sizes[k])[0]
                   for k in ("full", "large"))
    rules = sql_string(text.HOUSE_RULES)[1:-1]
    assert rules not in full and rules in large
    assert "max_tokens => 12" in full and "max_tokens => 64" in large


def test_forward_work_counts_weights_and_attended_keys(tiny) -> None:  # noqa: ANN001
    from benchmarks.prefix_tree import ForwardWork

    model, _ = tiny
    work = ForwardWork.of(model)
    c = model.config
    embeddings = model.get_input_embeddings().weight.numel() + model.lm_head.weight.numel()
    assert work.per_token == 2 * (sum(p.numel() for p in model.parameters()) - embeddings)
    assert work.per_key == 4 * c.num_hidden_layers * c.num_attention_heads * c.head_dim
    # Brute force: every token of every prompt, attending to itself and all before it; with
    # sharing, a token counts once per distinct prefix.
    prompts = [[1, 2, 3, 4], [1, 2, 9], [1, 2, 3, 4], [7]]
    scratch = sum(work.per_token + (t + 1) * work.per_key for p in prompts for t in range(len(p)))
    distinct = {tuple(p[:t + 1]) for p in prompts for t in range(len(p))}
    once = sum(work.per_token + len(prefix) * work.per_key for prefix in distinct)
    assert work.prefill(prompts, shared=False) == scratch
    assert work.prefill(prompts) == once
