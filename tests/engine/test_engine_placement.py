"""How ``device="auto"`` and the attention path are resolved (CUDA availability faked only for
the pure resolution functions), and what a CPU engine reports."""

from __future__ import annotations

import pytest
import torch

from heliumsql.engine import Engine, EngineError
from heliumsql.engine.placement import resolve_device, resolve_placement

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_auto_device_is_cuda_only_when_torch_sees_a_gpu() -> None:
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("cpu", cuda_available=True) == "cpu"  # an explicit choice stays


def test_auto_attention_is_compiled_flex_with_graphs_on_cuda_and_torch_on_cpu() -> None:
    gpu = resolve_placement(CUDA, torch.bfloat16, "auto", None, None, flash_ok=True, triton_ok=True)
    assert (gpu.attention, gpu.compiled, gpu.cuda_graphs) == ("flex", True, True)
    cpu = resolve_placement(CPU, torch.float32, "auto", None, None, flash_ok=False)
    assert (cpu.attention, cpu.compiled, cpu.cuda_graphs) == ("torch", False, False)
    eager = resolve_placement(CPU, torch.float32, "flex", None, None, flash_ok=False)
    assert (eager.compiled, eager.cuda_graphs) == (False, False)
    off = resolve_placement(CUDA, torch.bfloat16, "auto", False, False, False, triton_ok=True)
    assert off.describe() == "cuda bfloat16, attention flex"


def test_impossible_choices_say_what_to_use_instead() -> None:
    with pytest.raises(EngineError, match="needs flash-attn"):
        resolve_placement(CUDA, torch.bfloat16, "flash", None, None, flash_ok=False)
    with pytest.raises(EngineError, match="cuda_graphs=True needs attention='flex'"):
        resolve_placement(CUDA, torch.bfloat16, "torch", None, True, flash_ok=False)
    # Left to default, graphs are simply off for a path that cannot replay them.
    assert not resolve_placement(CUDA, torch.bfloat16, "torch", None, None, False).cuda_graphs
    # Without Triton there is no compiled FlexAttention: auto keeps the torch path.
    bare = resolve_placement(CUDA, torch.bfloat16, "auto", None, None, False, triton_ok=False)
    assert (bare.attention, bare.cuda_graphs) == ("torch", False)
    with pytest.raises(EngineError, match="block_size a multiple of 16"):
        resolve_placement(CUDA, torch.bfloat16, "flex", None, None, False, block_size=4)
    small = resolve_placement(CUDA, torch.bfloat16, "auto", None, None, False, block_size=4,
                              triton_ok=True)
    assert (small.attention, small.cuda_graphs) == ("torch", False)
    with pytest.raises(EngineError, match="attention must be one of"):
        resolve_placement(CPU, torch.float32, "sdpa", None, None, flash_ok=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of auto")
def test_engine_on_auto_runs_on_cpu_in_float32(model_paths) -> None:  # noqa: ANN001
    eng = Engine(model_paths["llama"], num_blocks=16)
    assert eng.device.type == "cpu" and eng.pool.k.dtype == torch.float32
    assert eng.placement.describe() == "cpu float32, attention torch"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of auto")
def test_every_entry_point_defaults_to_auto(model_paths) -> None:  # noqa: ANN001
    import duckdb

    import heliumsql
    import heliumsql.duckdb
    from heliumsql.repl.cli import parser as repl_parser
    from heliumsql.server.cli import parser as serve_parser

    path = model_paths["llama"]
    con = heliumsql.connect(model=path, result_cache=None, num_blocks=16)
    assert con.engine.placement.describe() == "cpu float32, attention torch"
    fns = heliumsql.duckdb.register(duckdb.connect(), model=path, num_blocks=16)
    assert fns.engine.placement.describe() == "cpu float32, attention torch"
    assert repl_parser().parse_args([]).device == "auto"
    assert serve_parser().parse_args([]).device == "auto"
