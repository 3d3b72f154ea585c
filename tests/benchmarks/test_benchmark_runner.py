"""Smoke test of the benchmark runner: ``--quick`` on a tiny model, checked for correctness.

Speed is not asserted here (targets live in benchmarks/RESULTS.md); what is asserted is that the
runner produces every figure the report promises and that the engine's greedy outputs equal the
Hugging Face baselines' token for token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = {"shared_prefix": {"hf_sequential", "heliumsql", "hf_padded", "hf_generate_batch"},
           "no_sharing": {"hf_padded", "heliumsql"}}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                           "--suite", "engine", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_system_is_measured_on_every_workload(quick_run: tuple[dict, str]) -> None:
    doc, _ = quick_run
    results = doc["suites"]["engine"]["results"]
    for workload, systems in SYSTEMS.items():
        assert {r["system"] for r in results if r["workload"] == workload} == systems
    for r in results:
        assert r["wall_s"] > 0 and len(r["wall_s_runs"]) == 1
        assert r["generated_tokens"] == r["num_requests"] * doc["suites"]["engine"]["setup"]["sizes"]["max_new_tokens"]


def test_engine_outputs_equal_every_baseline(quick_run: tuple[dict, str]) -> None:
    doc, _ = quick_run
    for r in doc["suites"]["engine"]["results"]:
        assert r["mismatches"] == 0, f"{r['system']} on {r['workload']} differs from the reference"


def test_prefill_figures_are_consistent(quick_run: tuple[dict, str]) -> None:
    doc, _ = quick_run
    suite = doc["suites"]["engine"]
    shared = suite["setup"]["workloads"]["shared_prefix"]
    sizes = suite["setup"]["sizes"]
    # One prefix plus every suffix: the union prefix tree of the shared-prefix workload.
    assert shared["distinct_prompt_tokens"] == sizes["prefix_len"] + sizes["num_prompts"] * sizes["suffix_len"]
    for r in suite["results"]:
        computed = r["computed_prefill_tokens"]
        assert r["distinct_prompt_tokens"] <= computed <= r["prompt_tokens"]
        assert r["prefill_efficiency"] == pytest.approx(r["distinct_prompt_tokens"] / computed)
        # What the embedding hook saw must match what the system says it computed: prefill plus
        # one token per decode step (the last generated token is never fed back).
        decode = r["num_requests"] * (sizes["max_new_tokens"] - 1)
        assert r["forward_tokens"] == computed + decode, r["system"]
        if r["system"] in ("hf_sequential", "hf_padded"):
            assert computed == r["prompt_tokens"]


def test_ratios_and_targets_are_reported(quick_run: tuple[dict, str]) -> None:
    doc, stdout = quick_run
    suite = doc["suites"]["engine"]
    by = {(r["workload"], r["system"]): r["wall_s"] for r in suite["results"]}
    for ratio in suite["ratios"]:
        expected = by[(ratio["workload"], ratio["baseline"])] / by[(ratio["workload"], "heliumsql")]
        assert ratio["speedup"] == pytest.approx(expected)
    assert len(suite["targets"]) == 5
    assert all(t["value"] is not None and isinstance(t["met"], bool) for t in suite["targets"])
    assert "speedup" in stdout and "target" in stdout
    assert doc["meta"]["command"].startswith("python benchmarks/run.py")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=6), max_size=8))
def test_distinct_prompt_tokens_counts_the_union_prefix_tree(prompts: list[list[int]]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.prefix_tree import distinct_prompt_tokens
    finally:
        sys.path.remove(str(ROOT))
    nodes = {tuple(p[:i]) for p in prompts for i in range(1, len(p) + 1)}
    assert distinct_prompt_tokens(prompts) == len(nodes)
