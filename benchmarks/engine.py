"""The engine suite: HeliumSQL's ``Engine`` against Hugging Face baselines on one model.

Model: a ~10M-parameter Llama built from a config with seeded random weights (nothing is
downloaded). Workloads are token-id prompts:

- ``shared_prefix``: 64 prompts = one 512-token prefix + a random 32-token suffix each;
- ``no_sharing``: 64 random 544-token prompts (nothing to share; the engine must not lose to
  padded batches).

Every system generates 16 tokens per prompt, greedy, EOS ignored. Systems: ``heliumsql``
(``heliumsql.engine.Engine``), (a) ``hf_sequential``, (b) ``hf_padded`` (best of a few batch
sizes), (c) ``hf_generate_batch`` (transformers' continuous batching with block sharing, best of
a few cache settings); (a) and (c) run on ``shared_prefix`` only. Only ``heliumsql.engine``, torch and transformers are imported, so the
suite runs where duckdb and sqlglot are not installed (the GPU machine).

>>> report = run(RunOptions(quick=True))                     # doctest: +SKIP
>>> [t["met"] for t in report.target_checks()]               # doctest: +SKIP
[True, True, True, True, True]
"""

from __future__ import annotations

import copy
import gc
import importlib
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from benchmarks.harness import (NAMED_SHAPES, ModelShape, RunOutput, System, Timings, cpu_name, measure,
                                pick_fastest, progress)
from benchmarks.hf_baselines import HFContinuousBatching, HFPaddedBatches, HFSequential
from benchmarks.prefix_tree import distinct_prompt_tokens
from benchmarks.record import Result, RunOptions, SuiteReport, Target

SUITE = "engine"
SUBJECT = "heliumsql"
PAD, BOS, EOS = 0, 1, 2
NUM_SPECIAL = 3


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: ``num_prompts`` prompts of ``prefix_len + suffix_len`` tokens."""

    num_prompts: int
    prefix_len: int
    suffix_len: int
    max_new_tokens: int
    padded_batch_sizes: tuple[int, ...]
    cb_max_batch_tokens: tuple[int, ...]


FULL_MODEL = ModelShape(256, 1024, 6, 4, 2, 64, 1024, vocab_size=8192)
QUICK_MODEL = ModelShape(64, 128, 2, 4, 2, 16, 256, vocab_size=512)
FULL_SIZES = Sizes(64, 512, 32, 16, padded_batch_sizes=(16, 64), cb_max_batch_tokens=(1024, 2048))
QUICK_SIZES = Sizes(8, 64, 16, 4, padded_batch_sizes=(8,), cb_max_batch_tokens=(256,))
PAGE_SIZE = 16

TARGETS = [
    Target("shared_prefix", SUBJECT, "hf_sequential", 10.0),
    Target("shared_prefix", SUBJECT, "hf_padded", 3.0),
    Target("shared_prefix", SUBJECT, "hf_generate_batch", 3.0),
    Target("shared_prefix", SUBJECT, None, 0.95),
    Target("no_sharing", SUBJECT, "hf_padded", 1.0),
]


def build_model(shape: ModelShape, device: str, dtype: torch.dtype, seed: int) -> tuple[Any, Any]:
    """A random-weight Llama of ``shape`` and a word-level tokenizer over its vocabulary.

    The wide initializer keeps random logits far apart, so greedy argmax has no near-ties that
    rounding differences between batched and unbatched kernels could flip.
    """
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(**shape.config_kwargs(), bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                         tie_word_embeddings=False, initializer_range=0.2)
    # Initialised on the device itself: a 1B-parameter model takes seconds on a GPU, a minute
    # on the GPU machine's CPU (seeded either way; the weights differ between the two).
    with torch.random.fork_rng(devices=[] if device == "cpu" else [torch.device(device)]), \
            torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model = model.to(dtype=dtype).eval()
    # Every system must produce exactly max_new_tokens; EOS must not end a sequence early.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = PAD
    return model, _tokenizer(shape.vocab_size)


def _tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": PAD, "<s>": BOS, "</s>": EOS}
    vocab.update({f"t{i}": i for i in range(NUM_SPECIAL, vocab_size)})
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<pad>")


def _random_tokens(n: int, vocab_size: int, generator: torch.Generator) -> list[int]:
    return torch.randint(NUM_SPECIAL, vocab_size, (n,), generator=generator).tolist()


def shared_prefix_prompts(sizes: Sizes, vocab_size: int, seed: int) -> list[list[int]]:
    """``num_prompts`` prompts: one common prefix, then a distinct random suffix each."""
    gen = torch.Generator().manual_seed(seed)
    prefix = _random_tokens(sizes.prefix_len, vocab_size, gen)
    return [prefix + _random_tokens(sizes.suffix_len, vocab_size, gen)
            for _ in range(sizes.num_prompts)]


def random_prompts(sizes: Sizes, vocab_size: int, seed: int) -> list[list[int]]:
    """``num_prompts`` unrelated random prompts of the same total length."""
    gen = torch.Generator().manual_seed(seed + 1)
    return [_random_tokens(sizes.prefix_len + sizes.suffix_len, vocab_size, gen)
            for _ in range(sizes.num_prompts)]


class HeliumEngine:
    """HeliumSQL's ``Engine``, rebuilt for every timed run so no run starts with a warm cache.

    It gets its own deep copy of the model: the engine may install its attention function on
    the model it runs, and the baselines must keep running stock transformers attention.
    """

    name = SUBJECT
    label = "HeliumSQL Engine"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: str, dtype: torch.dtype,
                 engine_path: str) -> None:
        module, _, attr = engine_path.rpartition(".")
        Engine = getattr(importlib.import_module(module), attr)
        self._factory = Engine
        self._base, self._tokenizer = model, tokenizer
        self._device, self._dtype = device, dtype
        self.model: torch.nn.Module = model
        self.engine: Any = None
        self.config: dict[str, Any] = {
            "engine_class": f"{Engine.__module__}.{Engine.__qualname__}"}

    def prepare(self) -> None:
        self.release()
        self.model = copy.deepcopy(self._base)
        self.engine = self._factory((self.model, self._tokenizer), device=self._device,
                                    dtype=self._dtype)

    def run(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> RunOutput:
        from heliumsql.engine import SamplingParams
        from heliumsql.engine.interface import runs_on

        before = self.engine.stats()["computed_prefill_tokens"]
        params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0, ignore_eos=True)
        completions = self.engine.generate([list(p) for p in prompts], params)
        computed = self.engine.stats()["computed_prefill_tokens"] - before
        where = runs_on(self.engine)  # the device and attention path that made these figures
        if where is not None:
            self.config["placement"] = where
        return RunOutput([list(c.token_ids) for c in completions], computed)

    def release(self) -> None:
        """Drop the engine so its KV pool is freed before another system sizes its cache."""
        self.engine = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _systems(workload: str, model: Any, tokenizer: Any, opts: RunOptions, dtype: torch.dtype,
             sizes: Sizes, distinct: int) -> list[list[System]]:
    """Candidate configurations per system, in report order; the first system is the reference
    every other system's tokens are compared with."""
    padded = [HFPaddedBatches(model, PAD, b) for b in sizes.padded_batch_sizes]
    # A cache just big enough for the workload: transformers' paged sdpa path (flash-attn is not
    # installed) attends over the whole cache, so its automatic, memory-sized cache is several
    # times slower on CPU and would span most of the GPU's memory.
    blocks = math.ceil(distinct / PAGE_SIZE) + sizes.num_prompts * (
        math.ceil(sizes.max_new_tokens / PAGE_SIZE) + 1)
    caches = [dict(page_size=PAGE_SIZE, num_blocks=blocks, max_batch_tokens=t)
              for t in sizes.cb_max_batch_tokens]
    continuous = [HFContinuousBatching(model, PAD, c) for c in caches]
    engine = [HeliumEngine(model, tokenizer, opts.device, dtype, opts.engine)]
    if workload == "shared_prefix":
        return [[HFSequential(model, PAD)], engine, padded, continuous]
    # generate_batch is left out here: with nothing to share it is prefill-bound, and its CPU
    # prefill took 72-154 s (cache of 320-2304 blocks) against 28 s for padded batches.
    return [padded, engine]


def _count_mismatches(reference: list[list[int]], other: list[list[int]]) -> int:
    return sum(a != b for a, b in zip(reference, other)) + abs(len(reference) - len(other))


def run(opts: RunOptions) -> SuiteReport:
    """Measure every system on the workloads (both, or ``--workload``'s) and return the
    suite's report."""
    from heliumsql.engine.model_loader import resolve_dtype

    shape, sizes = (QUICK_MODEL, QUICK_SIZES) if opts.quick else (FULL_MODEL, FULL_SIZES)
    if opts.shape is not None:
        shape = replace(NAMED_SHAPES[opts.shape], vocab_size=32000)
    dtype = resolve_dtype(opts.dtype, opts.device)
    model, tokenizer = build_model(shape, opts.device, dtype, opts.seed)
    workloads = {"shared_prefix": shared_prefix_prompts(sizes, shape.vocab_size, opts.seed),
                 "no_sharing": random_prompts(sizes, shape.vocab_size, opts.seed)}
    if opts.workloads:  # --workload NAME: only those
        unknown = sorted(set(opts.workloads) - set(workloads))
        if unknown:
            raise SystemExit(f"unknown workload(s) {unknown}; the engine suite has "
                             f"{sorted(workloads)}")
        workloads = {k: v for k, v in workloads.items() if k in opts.workloads}
    results: list[Result] = []
    setup: dict[str, Any] = dict(
        model=dict(asdict(shape), architecture="llama",
                   num_parameters=sum(p.numel() for p in model.parameters())),
        sizes=asdict(sizes), device=opts.device, dtype=str(dtype).removeprefix("torch."),
        repeats=opts.repeats, workloads={}, candidates={})
    for workload, prompts in workloads.items():
        distinct = distinct_prompt_tokens(prompts)
        setup["workloads"][workload] = dict(
            num_prompts=len(prompts), prompt_tokens=sum(map(len, prompts)),
            distinct_prompt_tokens=distinct, max_new_tokens=sizes.max_new_tokens)
        chosen: list[System] = []
        for candidates in _systems(workload, model, tokenizer, opts, dtype, sizes, distinct):
            system, tried = pick_fastest(candidates, prompts, sizes.max_new_tokens)
            if tried:
                setup["candidates"][f"{workload}/{candidates[0].name}"] = tried
            if system is not None:
                chosen.append(system)
        progress(f"{workload}: timing {', '.join(s.name for s in chosen)}")
        timings = measure(chosen, prompts, sizes.max_new_tokens, opts.repeats)
        reference = timings[0].output.token_ids
        _check_lengths(chosen[0].name, reference, sizes.max_new_tokens)
        for system, t in zip(chosen, timings):
            results.append(_result(workload, system, t, prompts, distinct,
                                   _count_mismatches(reference, t.output.token_ids)))
    setup["reference_system"] = {w: next(r.system for r in results if r.workload == w)
                                 for w in workloads}
    setup["machine"] = dict(cpu=cpu_name(), cores=os.cpu_count(),
                            torch_threads=torch.get_num_threads(),
                            gpu=torch.cuda.get_device_name() if opts.device.startswith("cuda") else None)
    return SuiteReport(SUITE, results, TARGETS, SUBJECT, setup)


def _check_lengths(name: str, tokens: list[list[int]], expected: int) -> None:
    short = [len(t) for t in tokens if len(t) != expected]
    if short:
        raise RuntimeError(f"reference system {name} generated {short[:4]} tokens for some "
                           f"prompts instead of {expected}: the comparison would be unfair")


def _result(workload: str, system: System, timings: Timings, prompts: list[list[int]],
            distinct: int, mismatches: int) -> Result:
    return Result(
        suite=SUITE, workload=workload, system=system.name, label=system.label,
        wall_s_runs=timings.wall_s_runs, num_requests=len(prompts),
        prompt_tokens=sum(map(len, prompts)), distinct_prompt_tokens=distinct,
        computed_prefill_tokens=timings.output.computed_prefill_tokens,
        generated_tokens=sum(map(len, timings.output.token_ids)), mismatches=mismatches,
        forward_tokens=timings.forward_tokens, config=timings.config)
