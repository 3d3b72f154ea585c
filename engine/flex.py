"""Paged attention with PyTorch FlexAttention, reading K/V in place from the pool.

The pool's flat per-layer view ``[slots, kv_heads, dim]`` is handed to ``flex_attention`` as
*one* key sequence ``[1, kv_heads, slots, dim]`` that every sequence of the step shares
(FlexAttention broadcasts a key batch of one over the queries' batch when a block mask is
given). Which keys a sequence may see is said twice, from its block table:

- the **block mask** lists, for each query block of sequence ``b``, the pool blocks of ``b``'s
  table that hold positions the block's queries can see (``kv_indices`` is the block table
  itself, so the kernel visits only those blocks: no gather, no copy of the context);
- the **mask_mod** maps a pool slot back to its logical position through a physical-to-logical
  block map (:func:`logical_blocks`: ``[seqs, pool_blocks + 1]``, -1 for blocks not in ``b``'s
  table) and keeps keys at or before the query's position. The compiled kernel evaluates it
  only inside listed blocks; the eager (uncompiled) kernel, which ignores block sparsity,
  evaluates it everywhere, so it alone must be exact.

Like the torch path, decodes (one query each) and prefill chunks (padded to the longest) go
through separate calls, so a decode never pays for a long chunk. When compiled, the batch and
query length are rounded up to :func:`bucket` sizes and every block table is padded to one
width, so that a step reuses a kernel compiled for an earlier step of similar shape instead of
compiling its own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.attention.flex_attention import BlockMask, flex_attention

# Rows of queries per block of the block mask (FlexAttention's default tile).
_Q_BLOCK = 128


def bucket(n: int, smallest: int = 1) -> int:
    """``n`` rounded up to a power of two (at least ``smallest``): the shapes a compiled
    kernel is specialised for, so a few kernels serve every step.

    >>> [bucket(n) for n in (1, 3, 8, 9)], bucket(5, smallest=16)
    ([1, 4, 8, 16], 16)
    """
    size = max(smallest, 1)
    while size < n:
        size *= 2
    return size


@dataclass
class FlexGroup:
    """One FlexAttention call's layout: ``seqs`` sequences padded to ``batch`` rows of
    ``max_q`` queries."""

    num_tokens: int  # real query tokens (packed)
    seqs: int
    batch: int
    max_q: int
    q_index: torch.Tensor | None  # [num_tokens] row in the padded [batch * max_q] layout
    block_mask: BlockMask


def flex_group(table: torch.Tensor, start: torch.Tensor, length: torch.Tensor, block_size: int,
               pool_blocks: int, device: torch.device, table_width: int | None) -> FlexGroup:
    """Layout of sequences whose tokens ``start[i] .. start[i] + length[i]`` are new (``table``
    is their block tables, ``[seqs, width]``, padded with any block id). With ``table_width``
    (compiled kernels) the batch and query length are rounded up to :func:`bucket` sizes and
    every table padded to ``table_width`` entries, so few shapes ever reach the compiler."""
    seqs, max_q, width = len(length), int(length.max()), table.shape[1]
    batch = seqs
    if table_width is not None:
        batch, width = bucket(seqs), table_width
        max_q = 1 if max_q == 1 else bucket(max_q, smallest=_Q_BLOCK)
    host = flex_inputs(table, start, length, block_size, pool_blocks, batch, max_q, width)
    buffers = FlexInputs(*(t.to(device, non_blocking=True) for t in host.tensors()))
    to_logical = logical_blocks(buffers.blocks, pool_blocks)
    block_mask = paged_block_mask(buffers, to_logical, block_size, max_q, pool_blocks)
    q_index = padded_rows(length, max_q, device) if max_q > 1 else None
    return FlexGroup(int(length.sum()), seqs, batch, max_q, q_index, block_mask)


def padded_rows(length: torch.Tensor, max_q: int, device: torch.device) -> torch.Tensor:
    """Row of each packed query token in a ``[seqs * max_q]`` layout padded per sequence.

    >>> padded_rows(torch.tensor([2, 1]), 4, torch.device("cpu")).tolist()
    [0, 1, 4]
    """
    seq_of_token = torch.repeat_interleave(torch.arange(len(length)), length)
    first = torch.cumsum(length, 0) - length
    rows = seq_of_token * max_q + torch.arange(int(length.sum())) - first[seq_of_token]
    return rows.to(device, non_blocking=True)


@dataclass
class FlexInputs:
    """The small per-step tensors a paged block mask is made of (all ``batch`` rows)."""

    blocks: torch.Tensor  # [batch, width] long: block table, unused entries = pool_blocks
    q_pos: torch.Tensor  # [batch, max_q] int32: query positions, -1 for padding
    kv_num: torch.Tensor  # [batch, 1, q_blocks] int32: blocks each query block visits
    kv_indices: torch.Tensor  # [batch, 1, q_blocks, width] int32: which blocks

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return self.blocks, self.q_pos, self.kv_num, self.kv_indices


def flex_inputs(table: torch.Tensor, start: torch.Tensor, length: torch.Tensor, block_size: int,
                pool_blocks: int, batch: int, max_q: int, width: int) -> FlexInputs:
    """Host-side block-mask inputs for ``len(length)`` sequences padded to ``batch`` rows of
    ``max_q`` queries and ``width`` table entries (padding rows see no key)."""
    seqs = len(length)
    total = start + length
    i = torch.arange(max_q)
    q_pos = torch.full((batch, max_q), -1, dtype=torch.int32)
    q_pos[:seqs] = torch.where(i < length[:, None], start[:, None] + i, -1).int()
    blocks = torch.full((batch, width), pool_blocks, dtype=torch.long)
    blocks[:seqs, :table.shape[1]] = table[:, :width]
    needed = torch.zeros(batch, dtype=torch.long)
    needed[:seqs] = -(-total // block_size)
    used = torch.arange(width) < needed[:, None]
    blocks = torch.where(used, blocks, pool_blocks)
    # Query block qb of a sequence sees blocks up to the one holding its last query's position.
    num_q_blocks = -(-max_q // _Q_BLOCK)
    last_row = torch.minimum((torch.arange(num_q_blocks) + 1) * _Q_BLOCK, length[:, None]) - 1
    kv_num = torch.zeros(batch, 1, num_q_blocks, dtype=torch.int32)
    kv_num[:seqs, 0] = ((start[:, None] + last_row) // block_size + 1).int()
    kv_indices = torch.where(used, blocks, 0).int()[:, None, None, :]
    return FlexInputs(blocks, q_pos, kv_num,
                      kv_indices.expand(batch, 1, num_q_blocks, width).contiguous())


def logical_blocks(blocks: torch.Tensor, pool_blocks: int,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """``[batch, pool_blocks + 1]`` int32: each pool block's index in row ``b``'s table, -1 if
    absent (made on the device from the small table; column ``pool_blocks`` absorbs padding)."""
    if out is None:
        out = torch.empty(blocks.shape[0], pool_blocks + 1, dtype=torch.int32, device=blocks.device)
    out.fill_(-1)
    index = torch.arange(blocks.shape[1], dtype=torch.int32, device=blocks.device)
    out.scatter_(1, blocks, index.expand(blocks.shape[0], -1))
    out[:, pool_blocks] = -1
    return out


def paged_block_mask(inputs: FlexInputs, to_logical: torch.Tensor, block_size: int, max_q: int,
                     pool_blocks: int) -> BlockMask:
    """The block mask over the whole pool; it reads ``inputs`` and ``to_logical`` by reference,
    so refilling them in place (CUDA graphs) changes what it masks."""
    q_pos = inputs.q_pos

    def mask_mod(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor
                 ) -> torch.Tensor:
        logical = to_logical[b, kv // block_size]
        return (logical >= 0) & (logical * block_size + kv % block_size <= q_pos[b, q])

    return BlockMask.from_kv_blocks(
        inputs.kv_num, inputs.kv_indices, BLOCK_SIZE=(_Q_BLOCK, block_size), mask_mod=mask_mod,
        seq_lengths=(max_q, pool_blocks * block_size), compute_q_blocks=False)


class FlexKernels:
    """``flex_attention``, compiled (Triton on GPU, C++ on CPU) with static shapes, one kernel
    per shape bucket, or eager (exact, but it computes a score for every slot of the pool: for
    tests on small pools)."""

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled
        self._attend = _compiled() if compiled else _attend

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockMask,
                 scale: float) -> torch.Tensor:
        options = None
        if q.is_cuda:  # Triton's key tile must divide the pool's block (16 by default)
            options = {"BLOCK_N": math.gcd(mask.BLOCK_SIZE[1], 64)}
        return self._attend(q, k, v, mask, scale, options)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockMask, scale: float,
            options: dict[str, int] | None) -> torch.Tensor:
    return flex_attention(q, k, v, block_mask=mask, scale=scale, enable_gqa=True,
                          kernel_options=options)


# Shape buckets (batch x query length) a long run meets, with room to spare: past dynamo's
# default limit of 8 it would fall back to eager FlexAttention, which materialises a score for
# every slot of the pool (gigabytes on a GPU pool).
_RECOMPILE_LIMIT = 64


@functools.cache
def _compiled() -> Callable[..., torch.Tensor]:
    """The compiled kernel, made once per process: dynamo keeps compiled code per function and
    backend, so engines built one after another (a benchmark's fresh engine per run) reuse
    the kernels of every shape bucket an earlier engine compiled instead of compiling anew."""
    _allow_recompiles(_RECOMPILE_LIMIT)
    return torch.compile(_attend, dynamic=False)


def _allow_recompiles(limit: int) -> None:
    """Raise dynamo's per-function recompile limit to ``limit`` (process-wide: it is dynamo's
    own setting, and only ever raised here)."""
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if getattr(config, name, limit) < limit:
            setattr(config, name, limit)


def flex_attention_paged(kernel: FlexKernels, q: torch.Tensor, k_slots: torch.Tensor,
                         v_slots: torch.Tensor, groups: tuple[FlexGroup | None, ...],
                         scale: float) -> torch.Tensor:
    """``q``: packed ``[tokens, heads, dim]`` (the groups' tokens in order) -> same shape."""
    heads, dim = q.shape[1], q.shape[2]
    k = k_slots.permute(1, 0, 2).unsqueeze(0)  # [1, kv_heads, slots, dim], a view
    v = v_slots.permute(1, 0, 2).unsqueeze(0)
    outs, offset = [], 0
    for group in groups:
        if group is None:
            continue
        qg = q[offset:offset + group.num_tokens]
        offset += group.num_tokens
        rows = group.batch * group.max_q
        if group.q_index is None and group.batch == group.seqs:
            padded = qg
        elif group.q_index is None:
            padded = qg.new_zeros(rows, heads, dim)
            padded[:group.seqs] = qg
        else:
            padded = qg.new_zeros(rows, heads, dim).index_copy_(0, group.q_index, qg)
        qb = padded.view(group.batch, group.max_q, heads, dim).transpose(1, 2)
        out = kernel(qb, k, v, group.block_mask, scale)
        out = out.transpose(1, 2).reshape(rows, heads, dim)
        outs.append(out[:group.seqs] if group.q_index is None else
                    out.index_select(0, group.q_index))
    return outs[0] if len(outs) == 1 else torch.cat(outs)
