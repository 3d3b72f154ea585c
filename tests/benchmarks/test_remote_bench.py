"""``benchmarks/remote.py`` on one tiny workload: both clients reach the same server, give the
same answers (their prompts are identical and decoding is greedy), and the figures agree with
what the server saw."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from benchmarks.remote import SYSTEMS, run_benchmark  # noqa: E402


def test_quick_remote_benchmark_on_one_workload() -> None:
    report = run_benchmark(quick=True, repeats=1, concurrencies=(4,), workloads=["multi_agent"])
    rows = {r["system"]: r for r in report["results"]}
    assert {r["concurrency"] for r in report["results"]} == {4}
    assert set(rows) == set(SYSTEMS)
    for row in rows.values():
        assert row["mismatches_vs_lotus"] == 0  # same prompts, greedy: same rows
        assert row["requests"] > 0 and row["wall_s"] > 0
        # Every prompt token is either computed or served from the server's cache.
        assert row["prompt_tokens"] == row["computed_prefill_tokens"] + row["cached_tokens"]
    # The LOTUS-style client sends one request per row per operator (2 tickers x 3 desks, then
    # a manager, the risk desk again and a trader per ticker), counted by the server;
    # HeliumSQL merges the repeated risk-desk calls.
    assert rows["lotus"]["requests"] == 2 * 3 + 3 * 2
    assert rows["heliumsql"]["requests"] == rows["lotus"]["requests"] - 2
    ratios = report["summary"]["by_concurrency"]["4"]["ratios"]["multi_agent"]
    lotus, ours = rows["lotus"]["requests"], rows["heliumsql"]["requests"]
    assert ratios["requests"] == pytest.approx(lotus / ours)
    for row in rows.values():
        assert row["client_requests"] == row["requests"]  # what each client sent, the server got
