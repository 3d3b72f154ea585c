"""How ``device="auto"`` and the attention path are resolved (CUDA availability faked only for
the pure resolution functions), and what a CPU engine reports."""

from __future__ import annotations

import pytest
import torch

from heliumsql.engine import Engine, EngineError
from heliumsql.engine.config import EngineConfig
from heliumsql.engine.placement import Placement, resolve_device, resolve_placement

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_auto_device_is_cuda_only_when_torch_sees_a_gpu() -> None:
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("cpu", cuda_available=True) == "cpu"  # an explicit choice stays


def _place(device: torch.device, attention: str = "auto", flash_ok: bool = False,
           triton_ok: bool = True, **config: object) -> Placement:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return resolve_placement(device, dtype, EngineConfig(attention=attention, **config), flash_ok,
                             triton_ok=triton_ok)


def test_auto_attention_is_compiled_flex_with_graphs_on_cuda_and_torch_on_cpu() -> None:
    gpu = _place(CUDA, flash_ok=True)  # flex even where flash-attn is installed
    assert (gpu.attention, gpu.compiled, gpu.cuda_graphs) == ("flex", True, True)
    cpu = _place(CPU)
    assert (cpu.attention, cpu.compiled, cpu.cuda_graphs) == ("torch", False, False)
    eager = _place(CPU, "flex")
    assert (eager.compiled, eager.cuda_graphs) == (False, False)
    off = _place(CUDA, compile_attention=False, cuda_graphs=False)
    assert off.describe() == "cuda bfloat16, attention flex"
    assert off.without_flex().describe() == "cuda bfloat16, attention torch"


def test_impossible_choices_say_what_to_use_instead() -> None:
    with pytest.raises(EngineError, match="needs flash-attn"):
        _place(CUDA, "flash")
    with pytest.raises(EngineError, match="cuda_graphs=True needs attention='flex'"):
        _place(CUDA, "torch", cuda_graphs=True)
    # Left to default, graphs are simply off for a path that cannot replay them.
    assert not _place(CUDA, "torch").cuda_graphs
    # Without Triton there is no compiled FlexAttention: auto keeps the torch path.
    bare = _place(CUDA, triton_ok=False)
    assert (bare.attention, bare.cuda_graphs) == ("torch", False)
    with pytest.raises(EngineError, match="block_size a multiple of 16"):
        _place(CUDA, "flex", block_size=4)
    small = _place(CUDA, block_size=4)
    assert (small.attention, small.cuda_graphs) == ("torch", False)
    with pytest.raises(EngineError, match="attention must be one of"):
        EngineConfig(attention="sdpa")


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
