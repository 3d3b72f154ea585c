"""The training script end to end at toy size: data -> tokenizer -> model -> checkpoint -> metrics."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from heliumsql.engine import HFGenerateEngine, SamplingParams, load_model
from heliumsql.models.tasks import TASKS
from heliumsql.models.train import parse_args, train


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "model"
    args = parse_args(["--out", str(out), "--work", str(out.parent / "work"), "--steps", "20",
                       "--batch-size", "8", "--hidden", "64", "--layers", "2", "--vocab-size", "600",
                       "--eval-per-task", "2", "--eval-every", "0"])
    with torch.random.fork_rng(devices=[]):
        metrics = train(args)
    return out, metrics


@pytest.mark.slow
def test_writes_a_loadable_float16_checkpoint(toy_run):
    out, _ = toy_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "generation_config.json", "metrics.json"):
        assert (out / name).is_file(), name
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    model, tok = load_model(str(out))
    assert next(model.parameters()).dtype == torch.float32  # CPU loads it back as float32
    assert tok.chat_template and tok.eos_token_id == model.config.eos_token_id


@pytest.mark.slow
def test_metrics_cover_every_task_and_the_engine_answers(toy_run):
    out, metrics = toy_run
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert set(metrics["tasks"]) == set(TASKS)
    assert all(0.0 <= s["score"] <= 1.0 and s["n"] == 2 for s in metrics["tasks"].values())
    assert metrics["steps"] == 20 and metrics["model"]["num_hidden_layers"] == 2
    engine = HFGenerateEngine(str(out))
    done = engine.generate(["hello"], SamplingParams(max_tokens=4, choices=("yes", "no")))
    assert done[0].text in ("yes", "no")
