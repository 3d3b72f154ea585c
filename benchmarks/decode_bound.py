"""Decode throughput of the engine against the dense forward bound.

    python benchmarks/decode_bound.py --device cuda --shape 1b --batch 64 --json out.json
    python benchmarks/decode_bound.py --dry-run              # tiny model on CPU, seconds

The bound is what the device's dense matrix multiply could do if a decode step were nothing
but the model's matmuls: ``measured matmul rate / FLOPs per token``, with FLOPs per token
``2 x (non-embedding weights) + 4 x layers x heads x head_dim x context`` (weights times two
for multiply-add; attention's two products over the average context). Decode at batch 64 is
bound by memory traffic on most GPUs, so the report also gives the weight-streaming bound
(``batch x bandwidth / weight bytes``, bandwidth measured by a device copy) to read it against.

Decode time is the difference between two cold runs over fresh prompts that differ only in
``max_tokens`` (``1 + new_tokens`` vs ``1``): prefill and setup cancel out. On CUDA the same
figure is taken again with ``cuda_graphs=False``, which measures what the decode graphs save.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_rate(device: str, dtype: Any, n: int, repeats: int = 10) -> float:
    """Dense ``n x n @ n x n`` multiply rate in FLOP/s (best of ``repeats``)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def copy_bandwidth(device: str, nbytes: int, repeats: int = 10) -> float:
    """Device memory bandwidth in bytes/s from a copy (read + write of ``nbytes``)."""
    import torch

    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * nbytes / best


def flops_per_token(model: Any, context: float) -> float:
    """Dense forward FLOPs of one token at ``context`` keys (see the module docstring)."""
    config = model.config
    embedding = model.get_input_embeddings().weight.numel()
    weights = sum(p.numel() for p in model.parameters()) - embedding
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attention = 4 * config.num_hidden_layers * config.num_attention_heads * head_dim * context
    return 2 * weights + attention


def measure(shape_name: str | None, device: str, dtype_name: str | None, batch: int,
            prompt_len: int, new_tokens: int, seed: int) -> dict[str, Any]:
    import torch

    from benchmarks.engine import QUICK_MODEL, build_model
    from benchmarks.harness import NAMED_SHAPES
    from heliumsql.engine import Engine, SamplingParams
    from heliumsql.engine.model_loader import resolve_dtype

    dtype = resolve_dtype(dtype_name, device)
    shape = QUICK_MODEL
    if shape_name is not None:
        from dataclasses import replace

        shape = replace(NAMED_SHAPES[shape_name], vocab_size=32000)
    model, tokenizer = build_model(shape, device, dtype, seed)
    gen = torch.Generator().manual_seed(seed)

    def decode_rate(**options: Any) -> tuple[float, float, float, str]:
        """(prefill s, prefill + decode s, decode tokens/s, placement) of a fresh engine."""
        engine = Engine((model, tokenizer), device=device, dtype=dtype, **options)

        def timed(max_tokens: int) -> float:
            params = SamplingParams(max_tokens=max_tokens, ignore_eos=True)
            # Fresh random prompts: nothing cached between runs.
            ids = torch.randint(3, shape.vocab_size, (batch, prompt_len), generator=gen).tolist()
            _sync(device)
            t = time.perf_counter()
            out = engine.generate(ids, params)
            _sync(device)
            assert all(len(c.token_ids) == max_tokens for c in out)
            return time.perf_counter() - t

        timed(1 + new_tokens)  # compiles kernels and captures the decode graphs of this batch
        prefill = min(timed(1) for _ in range(2))
        full = min(timed(1 + new_tokens) for _ in range(2))
        placement = engine.placement.describe()
        del engine
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return prefill, full, batch * new_tokens / max(full - prefill, 1e-9), placement

    prefill, full, tokens_per_s, placement = decode_rate()
    without_graphs = None
    if device.startswith("cuda"):  # CUDA graphs are measured against the same path without
        without_graphs = round(decode_rate(cuda_graphs=False)[2], 1)
    rate = matmul_rate(device, dtype, 8192 if device.startswith("cuda") else 256)
    per_token = flops_per_token(model, prompt_len + new_tokens / 2)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters()
                       if p is not model.get_input_embeddings().weight)
    bandwidth = copy_bandwidth(device, (1 << 30) if device.startswith("cuda") else (1 << 24))
    dense_bound = rate / per_token
    memory_bound = batch * bandwidth / weight_bytes
    return dict(
        device=device, gpu=torch.cuda.get_device_name() if device.startswith("cuda") else None,
        dtype=str(dtype).removeprefix("torch."), placement=placement,
        shape=shape_name or "quick", num_parameters=sum(p.numel() for p in model.parameters()),
        batch=batch, prompt_len=prompt_len, new_tokens=new_tokens,
        prefill_s=round(prefill, 4), prefill_and_decode_s=round(full, 4),
        decode_tokens_per_s=round(tokens_per_s, 1),
        decode_tokens_per_s_without_cuda_graphs=without_graphs,
        matmul_tflops=round(rate / 1e12, 2), flops_per_token=per_token,
        dense_bound_tokens_per_s=round(dense_bound, 1),
        fraction_of_dense_bound=round(tokens_per_s / dense_bound, 4),
        copy_bandwidth_gb_s=round(bandwidth / 1e9, 1),
        weight_streaming_bound_tokens_per_s=round(memory_bound, 1),
        fraction_of_weight_streaming_bound=round(tokens_per_s / memory_bound, 4),
        target="decode at batch 64 >= 0.5 of the dense forward bound")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    p.add_argument("--shape", default="1b", help="a benchmarks.harness.NAMED_SHAPES name")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--dry-run", action="store_true",
                   help="tiny model on CPU, a few tokens: checks the script, measures nothing")
    args = p.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import _make_importable

    _make_importable()
    if args.dry_run:
        result = measure(None, "cpu", "float32", 4, 16, 4, args.seed)
        result["dry_run"] = True
    else:
        result = measure(args.shape, args.device, args.dtype, args.batch, args.prompt_len,
                         args.new_tokens, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
