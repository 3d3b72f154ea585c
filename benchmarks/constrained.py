"""Constrained decoding's cost (issue 12): the grammar libraries' mask cost per token, and the
engine's decode-step time with and without the mask.

1. ``libraries``: llguidance and xgrammar compile the same JSON schema (a typed STRUCT answer as
   ``heliumsql.output_types`` writes it) over the same tokenizer; valid token sequences (random
   walks through the grammar, seeded) are replayed through each, timing the next-token mask of
   every step for one sequence and for a batch of 64 (llguidance: its parallel batch fill;
   xgrammar: its batch matcher).
2. ``overhead``: the engine decodes 64 requests with the benchmark model's shape (hidden 256,
   6 layers, MLP 1024) over the built-in model's tokenizer, free and under the schema, the two
   modes alternating in one process ``--repeats`` times; the step time is the median wall time
   of a decode-only step (all 64 rows decoding), and its CPU time the process's CPU time in
   that step (torch's threads and the mask worker together); the mask's own share is the time
   the step waits for the fill (which overlaps the forward pass) plus applying it, measured
   inside those same steps.

Run: ``python -m benchmarks.constrained [--threads N] [--walks N] [--skip-libraries]
[--repeats N]`` (default 5); prints
JSON. The library comparison needs ``pip install xgrammar`` (not a dependency of HeliumSQL).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.engine import FULL_MODEL
from heliumsql.output_types import json_schema, parse_output_type

TYPE = "STRUCT(name VARCHAR, age INTEGER, tags VARCHAR[], score DECIMAL(4,1))"
MAX_TOKENS = 256
BATCH = 64
BUILTIN = Path(__file__).resolve().parents[1] / "heliumsql" / "models" / "builtin"


def schema_text() -> str:
    return json.dumps(json_schema(parse_output_type(TYPE), MAX_TOKENS), sort_keys=True)


def _walks(tokenizer: Any, schema: str, num: int, seed: int) -> list[list[int]]:
    """``num`` valid token sequences: each step picks a random allowed token (llguidance)."""
    import llguidance
    import llguidance.hf
    import llguidance.torch as lt

    info = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, defaults={"whitespace_flexible": False})
    rng = random.Random(seed)
    bitmask = lt.allocate_token_bitmask(1, info.vocab_size)
    out = []
    for _ in range(num):
        matcher, walk = llguidance.LLMatcher(info, grammar), []
        while not matcher.is_stopped() and len(walk) < MAX_TOKENS:
            lt.fill_next_token_bitmask(matcher, bitmask, 0)
            allowed = [t for t in range(info.vocab_size) if bitmask[0, t // 32] >> (t % 32) & 1]
            if walk and tokenizer.eos_token_id in allowed:
                break
            token = rng.choice(allowed)
            matcher.consume_token(token)
            walk.append(token)
        out.append(walk)
    return out


def _time_llguidance(tokenizer: Any, schema: str, walks: list[list[int]]) -> dict[str, float]:
    import llguidance
    import llguidance.hf
    import llguidance.torch as lt

    info = llguidance.hf.from_tokenizer(tokenizer)
    start = time.perf_counter()
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, defaults={"whitespace_flexible": False})
    matchers = [llguidance.LLMatcher(info, grammar) for _ in walks]
    compile_s = time.perf_counter() - start
    executor = llguidance.LLExecutor()
    bitmask = lt.allocate_token_bitmask(len(walks), info.vocab_size)
    single, batched = [], []
    for step in range(max(len(w) for w in walks)):
        live = [(m, i) for i, (m, w) in enumerate(zip(matchers, walks)) if step < len(w)]
        t0 = time.perf_counter()
        lt.fill_next_token_bitmask(live[0][0], bitmask, live[0][1])
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        lt.fill_next_token_bitmask_par(executor, live, bitmask)
        batched.append((time.perf_counter() - t0) / len(live) * BATCH)
        for m, i in live:
            m.consume_token(walks[i][step])
    return {"compile_ms": compile_s * 1e3, "mask_us_per_token": statistics.median(single) * 1e6,
            "batch64_mask_ms": statistics.median(batched) * 1e3}


def _time_xgrammar(tokenizer: Any, schema: str, walks: list[list[int]]) -> dict[str, float]:
    import xgrammar as xgr

    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    start = time.perf_counter()
    compiled = xgr.GrammarCompiler(info).compile_json_schema(
        schema, any_whitespace=False, separators=(",", ":"))
    matchers = [xgr.GrammarMatcher(compiled) for _ in walks]
    compile_s = time.perf_counter() - start
    batch = xgr.BatchGrammarMatcher()
    bitmask = xgr.allocate_token_bitmask(len(walks), info.vocab_size)
    single, batched, rejected = [], [], 0
    for step in range(max(len(w) for w in walks)):
        live = [i for i, w in enumerate(walks) if step < len(w) and matchers[i] is not None]
        if not live:
            break
        t0 = time.perf_counter()
        matchers[live[0]].fill_next_token_bitmask(bitmask, live[0])
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        batch.batch_fill_next_token_bitmask([matchers[i] for i in live], bitmask[:len(live)])
        batched.append((time.perf_counter() - t0) / len(live) * BATCH)
        for i in live:
            if not matchers[i].accept_token(walks[i][step]):
                matchers[i], rejected = None, rejected + 1  # the grammars differ on this walk
    return {"compile_ms": compile_s * 1e3, "mask_us_per_token": statistics.median(single) * 1e6,
            "batch64_mask_ms": statistics.median(batched) * 1e3, "rejected_walks": rejected}


def libraries(num_walks: int) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(BUILTIN)
    schema = schema_text()
    walks = _walks(tokenizer, schema, num_walks, seed=0)
    return {"vocab": len(tokenizer), "walk_tokens": statistics.mean(len(w) for w in walks),
            "llguidance": _time_llguidance(tokenizer, schema, walks),
            "xgrammar": _time_xgrammar(tokenizer, schema, walks)}


def _model_dir(root: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    tokenizer = AutoTokenizer.from_pretrained(BUILTIN)
    config = LlamaConfig(**FULL_MODEL.config_kwargs(), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    config.vocab_size = len(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


MODES = ("free", "masked")


def overhead(repeats: int) -> dict[str, Any]:
    from heliumsql.engine import Engine, SamplingParams

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(_model_dir(Path(tmp)), device="cpu")
    prompts = [f"Record {i}: extract the person." for i in range(BATCH)]
    steps: dict[str, list[float]] = {m: [] for m in MODES}
    mask_times: dict[str, list[float]] = {m: [] for m in MODES}
    forward: dict[str, list[float]] = {m: [] for m in MODES}
    # CPU time of the whole process (torch's threads and the mask worker) per step: on a shared
    # machine wall time mostly measures the neighbours; CPU time is the work the step adds.
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    schema = schema_text()
    full_decode = [False]
    mode_now = ["free"]
    step, run, finish = engine._step, engine.runner.run, engine._grammars.finish

    def timed_run(batch: Any, keep: Any) -> torch.Tensor:
        full_decode[0] = len(batch.counts) == BATCH and all(n == 1 for n in batch.counts)
        t0 = time.perf_counter()
        out = run(batch, keep)
        if full_decode[0]:
            forward[mode_now[0]].append(time.perf_counter() - t0)
        return out

    def timed_finish(logits: torch.Tensor, pending: Any) -> None:
        t0 = time.perf_counter()
        finish(logits, pending)
        if full_decode[0]:
            mask_times[mode_now[0]].append(time.perf_counter() - t0)

    def timed_step(mode: str) -> Any:
        def inner() -> None:
            full_decode[0] = False
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            if full_decode[0]:
                steps[mode].append(time.perf_counter() - t0)
                cpu[mode].append(time.process_time() - c0)
        return inner

    # A benchmark may wrap internals it measures; nothing else does.
    engine.runner.run, engine._grammars.finish = timed_run, timed_finish
    for _ in range(repeats):
        for mode in MODES:
            params = (SamplingParams(max_tokens=48, ignore_eos=True) if mode == "free"
                      else SamplingParams(max_tokens=48, json_schema=schema))
            engine._step, mode_now[0] = timed_step(mode), mode
            engine.generate(prompts, params)
    median = {m: statistics.median(steps[m]) * 1e3 for m in MODES}
    cpu_ms = {m: statistics.median(cpu[m]) * 1e3 for m in MODES}
    out: dict[str, Any] = {"batch": BATCH, "repeats": repeats}
    for m in MODES:
        out[m] = {"steps": len(steps[m]), "step_ms": median[m], "step_cpu_ms": cpu_ms[m],
                  "forward_ms": statistics.median(forward[m]) * 1e3}
        if m != "free":
            out[m]["overhead_pct"] = (median[m] - median["free"]) / median["free"] * 100
            out[m]["cpu_overhead_pct"] = (cpu_ms[m] - cpu_ms["free"]) / cpu_ms["free"] * 100
            out[m]["mask_wait_and_apply_ms"] = statistics.median(mask_times[m]) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--walks", type=int, default=BATCH)
    parser.add_argument("--skip-libraries", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"type": TYPE, "threads": args.threads, "overhead": overhead(args.repeats)}
    if not args.skip_libraries:
        out["libraries"] = libraries(args.walks)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
