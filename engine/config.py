"""Engine settings, and how the KV pool's size follows from them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from heliumsql.engine.errors import EngineError
from heliumsql.engine.placement import ATTENTION_PATHS

_CPU_DEFAULT_POOL_BYTES = 256 * 2**20


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the local engine; every field has a working default.

    ``kv_cache_memory`` is the KV pool's size in bytes (CPU default: 256 MiB, capped at what
    ``max_num_seqs`` full contexts need); on GPU, when it is ``None``, the pool takes
    ``gpu_memory_fraction`` of the free device memory. ``num_blocks`` overrides both (tests
    use it to build tiny pools). ``max_batch_tokens`` is the token budget of one forward step
    (prefill chunks plus one token per decoding sequence). ``attention`` is ``"auto"``
    (FlexAttention over the pool in place on CUDA, the torch path on CPU), ``"torch"``,
    ``"flex"`` or ``"flash"`` (flash-attn, when installed); ``compile_attention`` and
    ``cuda_graphs`` (decode steps replayed per batch-size bucket) default to on with CUDA,
    off on CPU (see :mod:`heliumsql.engine.placement`). ``cache_aware_admission``
    (longest cached prefix first, then depth-first) and ``dedupe_prefixes`` (requests sharing an
    uncached prefix compute it once) are on by default; turning both off gives a vLLM-style scheduler.
    ``partial_blocks`` (reuse cached K/V down to the token, not just whole blocks; keep the
    partial last block of finished requests and pins; with ``dedupe_prefixes``, a request waits
    once for an in-flight block that shares part of its next block) is on by default; vLLM shares
    full blocks only.

    >>> EngineConfig(block_size=16, num_blocks=64).block_size
    16
    """

    block_size: int = 16
    kv_cache_memory: int | None = None
    gpu_memory_fraction: float = 0.5
    num_blocks: int | None = None
    max_batch_tokens: int | None = None
    max_num_seqs: int = 256
    attention: str = "auto"
    compile_attention: bool | None = None
    cuda_graphs: bool | None = None
    cache_aware_admission: bool = True
    dedupe_prefixes: bool = True
    partial_blocks: bool = True

    def __post_init__(self) -> None:
        if self.block_size < 1:
            raise EngineError(f"block_size must be at least 1, got {self.block_size}")
        if self.num_blocks is not None and self.num_blocks < 1:
            raise EngineError(f"num_blocks must be at least 1, got {self.num_blocks}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise EngineError(f"max_batch_tokens must be at least 1, got {self.max_batch_tokens}")
        if self.max_num_seqs < 1:
            raise EngineError(f"max_num_seqs must be at least 1, got {self.max_num_seqs}")
        if not 0 < self.gpu_memory_fraction <= 1:
            raise EngineError(f"gpu_memory_fraction must be in (0, 1], got {self.gpu_memory_fraction}")
        if self.attention not in ATTENTION_PATHS:
            raise EngineError(f"attention must be one of {ATTENTION_PATHS}, got {self.attention!r}")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EngineConfig:
        """Build from ``Engine(**more)`` keywords, naming any that are unknown."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise EngineError(f"unknown engine option(s) {unknown}; known options: {sorted(known)}")
        return cls(**kwargs)

    def batch_tokens(self, device: torch.device) -> int:
        """The step token budget: large enough for a full batch of prefill chunks."""
        if self.max_batch_tokens is not None:
            return self.max_batch_tokens
        return 8192 if device.type == "cuda" else 4096

    def pool_blocks(self, bytes_per_block: int, max_context: int, device: torch.device) -> int:
        """How many KV blocks the pool holds (fixed for the engine's lifetime)."""
        if self.num_blocks is not None:
            return self.num_blocks
        if self.kv_cache_memory is not None:
            budget = self.kv_cache_memory
        elif device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            budget = int(free * self.gpu_memory_fraction)
            # Whole multiples of 256 blocks: engines built one after another in a process get
            # the same pool size, so compiled attention kernels (specialised to it) are reused.
            rounded = budget // bytes_per_block // 256 * 256
            if rounded:
                budget = rounded * bytes_per_block
        else:
            needed = self.max_num_seqs * -(-max_context // self.block_size) * bytes_per_block
            budget = min(_CPU_DEFAULT_POOL_BYTES, needed)
        blocks = budget // bytes_per_block
        if blocks < 1:
            raise EngineError(
                f"kv_cache_memory={budget} bytes holds no KV block ({bytes_per_block} bytes each); "
                "raise kv_cache_memory")
        return int(blocks)
