"""``benchmarks/gpu_check.sh --dry-run``: the GPU check's every step, on CPU with a tiny model,
writing the same files the GPU run writes (the GPU figures themselves need a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dry_run_runs_every_step_and_gathers_their_json(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "gpu_check.json").read_text())
    assert doc["dry_run"] is True
    steps = {s["step"]: s for s in doc["steps"]}
    assert set(steps) == {"setup", "pytest", "engine", "workflows-map_reduce", "decode"}
    for name, step in steps.items():
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert step["status"] == "ok" and step["seconds"] <= step["limit_s"], (step, log[-3000:])
    # The GPU tests were collected (and skipped: no CUDA here), not missing.
    assert "skipped" in (tmp_path / "logs" / "pytest.log").read_text()
    engine = doc["results"]["engine"]["suites"]["engine"]
    assert {r["workload"] for r in engine["results"]} == {"shared_prefix"}
    assert {r["system"] for r in engine["results"]} >= {"heliumsql", "hf_sequential"}
    assert all(r["mismatches"] == 0 for r in engine["results"])  # float32: identical tokens
    assert doc["results"]["workflows-map_reduce"]["suites"]["workflows"]["results"]
    decode = doc["results"]["decode"]
    assert decode["placement"] == "cpu float32, attention torch"
    # A dry run's few tokens on a tiny model measure nothing (decode time is the difference of
    # two runs of milliseconds): the figures are there and positive, their size means nothing.
    assert decode["decode_tokens_per_s"] > 0 and decode["fraction_of_dense_bound"] > 0
