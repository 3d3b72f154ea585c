"""The flash-attn path of paged attention (CUDA, float16/bfloat16, when flash-attn is installed).

flash-attn's varlen kernel takes packed queries and keys with cumulative lengths, so a step
needs no padding and no mask: :func:`flash_layout` gathers each sequence's keys in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from heliumsql.engine.attention import AttentionMetadata

try:  # optional: only on CUDA machines that have it
    from flash_attn import flash_attn_varlen_func
except ImportError:  # pragma: no cover - depends on the machine
    flash_attn_varlen_func = None


def flash_layout(meta: AttentionMetadata, table: torch.Tensor, total: torch.Tensor,
                 length: torch.Tensor, block_size: int, device: torch.device) -> AttentionMetadata:
    """Fill ``meta``'s packed layout: each sequence's keys ``0 .. total`` gathered in order, and
    cumulative query and key lengths (``length`` new tokens each)."""
    seq_of_key = torch.repeat_interleave(torch.arange(len(total)), total)
    first = torch.cumsum(total, 0) - total
    j = torch.arange(int(total.sum())) - first[seq_of_key]
    packed = table[seq_of_key, j // block_size] * block_size + j % block_size
    zero = torch.zeros(1, dtype=torch.int32)
    meta.cu_seqlens_q = torch.cat([zero, torch.cumsum(length, 0).int()]).to(device)
    meta.cu_seqlens_k = torch.cat([zero, torch.cumsum(total, 0).int()]).to(device)
    meta.kv_packed = packed.to(device)
    meta.max_q, meta.max_k = int(length.max()), int(total.max())
    return meta


def flash_attention(q: torch.Tensor, k_slots: torch.Tensor, v_slots: torch.Tensor,
                    meta: AttentionMetadata, scale: float) -> torch.Tensor:
    """flash-attn varlen over each sequence's gathered context (causal, bottom-right aligned)."""
    k, v = k_slots.index_select(0, meta.kv_packed), v_slots.index_select(0, meta.kv_packed)
    return flash_attn_varlen_func(q, k, v, meta.cu_seqlens_q, meta.cu_seqlens_k, meta.max_q,
                                  meta.max_k, softmax_scale=scale, causal=True)


def flash_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether flash-attn can run here: installed, a CUDA device, a 16-bit dtype."""
    return (flash_attn_varlen_func is not None and device.type == "cuda"
            and dtype in (torch.float16, torch.bfloat16))
