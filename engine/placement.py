"""Where and how the engine runs: device, dtype, attention path, compilation and CUDA graphs.

Everything is decided once, when an engine is built, from what the user asked for and what the
machine has; :meth:`Placement.describe` is the line ``EXPLAIN ANALYZE`` and the REPL's ``.model``
print, so a user can see which path actually runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from heliumsql.engine.errors import EngineError, ModelLoadError

if TYPE_CHECKING:
    from heliumsql.engine.config import EngineConfig

ATTENTION_PATHS = ("auto", "torch", "flex", "flash")


def resolve_device(device: str | torch.device, cuda_available: bool | None = None) -> str:
    """``"auto"`` becomes ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``; anything else
    passes through. ``cuda_available`` defaults to asking torch (tests pass it).

    >>> resolve_device("auto", cuda_available=False), resolve_device("cuda:1", cuda_available=False)
    ('cpu', 'cuda:1')
    """
    if str(device) != "auto":
        return str(device)
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    return "cuda" if cuda_available else "cpu"


@dataclass(frozen=True)
class Placement:
    """How an engine runs. ``attention``: ``"torch"`` (gathers each context; the CPU path),
    ``"flex"`` (FlexAttention over the pool in place), ``"flash"`` (flash-attn varlen);
    ``compiled``: FlexAttention compiled per shape bucket; ``cuda_graphs``: decode steps
    replayed from CUDA graphs captured per batch-size bucket (on CPU, where nothing is
    captured, the same padded static-buffer path runs eagerly: a way to check it).

    >>> Placement(torch.device("cpu"), torch.float32, "torch", False, False).describe()
    'cpu float32, attention torch'
    """

    device: torch.device
    dtype: torch.dtype
    attention: str
    compiled: bool
    cuda_graphs: bool

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        attention = self.attention + (" (compiled)" if self.compiled else "")
        graphs = ""
        if self.cuda_graphs:  # on CPU: the same padded static buffers, run without capture
            graphs = (", CUDA graphs for decode" if self.device.type == "cuda"
                      else ", decode buckets (no graph capture on CPU)")
        return f"{self.device} {dtype}, attention {attention}{graphs}"

    def without_flex(self) -> Placement:
        """The torch path on the same device and dtype (what runs if FlexAttention fails)."""
        return replace(self, attention="torch", compiled=False, cuda_graphs=False)


def resolve_placement(device: torch.device, dtype: torch.dtype, config: EngineConfig,
                      flash_ok: bool, triton_ok: bool | None = None) -> Placement:
    """Pick the attention path and its options (``config``'s ``attention``,
    ``compile_attention``, ``cuda_graphs``, ``block_size``) for a model already on ``device``.

    ``"auto"`` is FlexAttention on CUDA (it reads the pool in place and needs no extra
    package) and the torch path on CPU (where the fused CPU SDPA kernel beats FlexAttention's
    CPU code). ``compile_attention`` and ``cuda_graphs`` default to on for CUDA, off on CPU.
    Compiled FlexAttention on CUDA reads the pool in tiles of whole blocks and Triton's matrix
    products need tiles of at least 16, so it needs a ``block_size`` that is a multiple of 16
    (``"auto"`` takes the torch path for other block sizes, and where torch has no Triton;
    ``triton_ok`` defaults to asking torch).

    >>> from heliumsql.engine.config import EngineConfig
    >>> resolve_placement(torch.device("cuda"), torch.bfloat16, EngineConfig(), False,
    ...                   triton_ok=True).describe()
    'cuda bfloat16, attention flex (compiled), CUDA graphs for decode'
    """
    attention, compile_attention, cuda_graphs = (config.attention, config.compile_attention,
                                                 config.cuda_graphs)
    cuda = device.type == "cuda"
    tiles_ok = config.block_size % 16 == 0
    if attention == "auto":
        if cuda and triton_ok is None:
            from torch.utils._triton import has_triton

            triton_ok = has_triton()
        flex_ok = triton_ok and (tiles_ok or compile_attention is False)
        attention = "flex" if cuda and flex_ok else "torch"
    if attention == "flash" and not flash_ok:
        raise EngineError("attention='flash' needs flash-attn installed, a CUDA device and "
                          "float16/bfloat16; use attention='flex' or 'torch'")
    compiled = attention == "flex" and (cuda if compile_attention is None else compile_attention)
    if compiled and cuda and not tiles_ok:
        raise EngineError(f"compiled FlexAttention on CUDA needs block_size a multiple of 16, got "
                          f"{config.block_size}; use block_size=16 (or compile_attention=False)")
    graphs = cuda if cuda_graphs is None else cuda_graphs
    if graphs and attention != "flex":
        if cuda_graphs:  # asked for explicitly: say why it cannot be done
            raise EngineError(f"cuda_graphs=True needs attention='flex' (the {attention} path "
                              "builds shapes per step); use attention='flex'")
        graphs = False
    return Placement(device, dtype, attention, compiled, graphs)


def check_device(device: str, shown: str) -> torch.device:
    """``device`` as a torch device that exists on this machine (``"auto"`` resolved)."""
    try:
        where = torch.device(resolve_device(device))
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"device={device!r} (for model {shown}) is not a torch device; use "
                             "'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if where.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device={device!r} for model {shown}, but this machine has no CUDA "
                             "GPU that torch can use; use device='auto' or 'cpu'")
    return where
