"""Paged attention for Hugging Face models: the ``"helium"`` attention implementation.

transformers calls :func:`helium_attention` in every attention layer with that layer's new
query/key/value for all tokens of the packed step. It stores the new K/V in the pool at the
step's slots, gathers each sequence's context from its blocks and attends. The per-step
layout (slots, gather indices, masks) is built once per step by :func:`build_metadata` and
reaches the layers through one context variable, because models do not forward arbitrary
keyword arguments to their attention functions.

Sequences come ordered decodes first, then prefill chunks. The torch path runs one
``scaled_dot_product_attention`` call for all decodes and one for all prefill chunks padded to
the longest, so padding never makes a decode pay for a long prefill. Grouped-query heads are
folded into the query length, so K/V are never repeated per head. On CPU (float32) prefill
chunks instead attend per sequence with no mask at all (:class:`_Chunks`): the fused CPU kernel
is about twice as fast causal or unmasked as with an explicit mask.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from heliumsql.engine.errors import EngineError
from heliumsql.engine.flash import flash_attention, flash_layout
from heliumsql.engine.flex import (FlexGroup, FlexKernels, flex_attention_paged, flex_group,
                                   padded_rows)
from heliumsql.engine.kv_pool import KVPool

@dataclass
class _Group:
    """Padded layout of one group of sequences (all decodes, or all prefill chunks)."""

    num_tokens: int  # real query tokens of the group
    max_q: int
    kv_index: torch.Tensor  # [seqs, max_kv] slots to gather (padding points at slot 0)
    mask: torch.Tensor  # additive, [seqs, 1, rows, max_kv]
    q_index: torch.Tensor | None  # [num_tokens] row in the padded [seqs * max_q] layout
    prefix: torch.Tensor | slice | None = None  # slots of a prefix every sequence shares


@dataclass
class _Chunks:
    """Prefill chunks of one step, attended per sequence without masks (CPU float32).

    Sequence ``i``'s queries are packed rows ``offsets[i] .. offsets[i] + lengths[i]``; its keys
    are the group's shared ``prefix`` (read once for every query), its own earlier keys
    ``past[i]`` (all visible) and the chunk's keys ``chunk[i]`` (causal, aligned with the
    queries), merged through their log-sum-exps.
    """

    num_tokens: int
    offsets: list[int]
    lengths: list[int]
    past: list[torch.Tensor | None]
    chunk: list[torch.Tensor]
    prefix: torch.Tensor | slice | None = None


@dataclass
class AttentionMetadata:
    """Everything the attention layers need for one step, built once per step."""

    slot_mapping: torch.Tensor  # [tokens] where each new token's K/V goes
    decode: _Group | None
    prefill: _Group | _Chunks | None
    # flash-attn (packed, no padding)
    cu_seqlens_q: torch.Tensor | None = None
    cu_seqlens_k: torch.Tensor | None = None
    kv_packed: torch.Tensor | None = None
    max_q: int = 0
    max_k: int = 0
    # FlexAttention (decodes, prefill chunks), reading the pool in place
    flex: tuple[FlexGroup | None, FlexGroup | None] = (None, None)


@dataclass
class StepContext:
    pool: KVPool
    meta: AttentionMetadata
    backend: str  # "torch" | "flash" | "flex"
    flex_kernel: FlexKernels | None = None


_STEP: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar("helium_step", default=None)


@contextlib.contextmanager
def step_context(ctx: StepContext) -> Iterator[None]:
    """Make ``ctx`` visible to :func:`helium_attention` for the duration of one forward."""
    token = _STEP.set(ctx)
    try:
        yield
    finally:
        _STEP.reset(token)


def build_metadata(block_tables: Sequence[Sequence[int]], starts: Sequence[int],
                   lengths: Sequence[int], num_decode: int, block_size: int, groups: int,
                   dtype: torch.dtype, device: torch.device, backend: str,
                   pool_blocks: int = 0, table_width: int | None = None
                   ) -> tuple[AttentionMetadata, torch.Tensor]:
    """Step layout for sequences whose tokens ``starts[i] .. starts[i] + lengths[i]`` are new.

    The first ``num_decode`` sequences have exactly one new token each. ``groups`` is the
    number of query heads per KV head. Returns the metadata and every new token's position.
    The flex backend also needs the pool's ``pool_blocks`` and, for compiled kernels, the
    ``table_width`` every block table is padded to (see :func:`~heliumsql.engine.flex.flex_group`).
    """
    width = max(len(t) for t in block_tables)
    table = torch.tensor([list(t) + [0] * (width - len(t)) for t in block_tables], dtype=torch.long)
    start = torch.tensor(starts, dtype=torch.long)
    length = torch.tensor(lengths, dtype=torch.long)
    seq_of_token = torch.repeat_interleave(torch.arange(len(lengths)), length)
    first = torch.cumsum(length, 0) - length
    pos = torch.arange(int(length.sum())) - first[seq_of_token] + start[seq_of_token]
    slots = table[seq_of_token, pos // block_size] * block_size + pos % block_size
    meta = AttentionMetadata(slot_mapping=slots.to(device, non_blocking=True), decode=None,
                             prefill=None)
    positions = pos.to(device, non_blocking=True)
    if backend == "flash":
        return flash_layout(meta, table, start + length, length, block_size, device), positions
    if backend == "flex":
        parts = [(table[:num_decode], start[:num_decode], length[:num_decode]),
                 (table[num_decode:], start[num_decode:], length[num_decode:])]
        meta.flex = tuple(flex_group(t, s, n, block_size, pool_blocks, device, table_width)
                          if len(n) else None for t, s, n in parts)
        return meta, positions
    pad = 8 if device.type == "cuda" else 1  # memory-efficient kernels want aligned masks
    if num_decode:
        meta.decode = _group(table[:num_decode], start[:num_decode], length[:num_decode],
                             block_size, groups, dtype, device, pad)
    if num_decode < len(lengths) and device.type == "cpu" and dtype == torch.float32:
        meta.prefill = _chunks(table[num_decode:], start[num_decode:], length[num_decode:],
                               block_size, groups, device)
    elif num_decode < len(lengths):
        meta.prefill = _group(table[num_decode:], start[num_decode:], length[num_decode:],
                              block_size, groups, dtype, device, pad)
    return meta, positions


def _group(table: torch.Tensor, start: torch.Tensor, length: torch.Tensor, block_size: int,
           groups: int, dtype: torch.dtype, device: torch.device, pad: int) -> _Group:
    total = start + length
    seqs, max_q = len(length), int(length.max())
    shared = _shared_prefix(table, start, block_size, kv_rows=seqs * groups * max_q)
    # Keys of the shared prefix (if any) are gathered once; the per-sequence layout covers
    # the rest, positions ``shared .. max_kv``.
    width = -(-(int(total.max()) - shared) // pad) * pad
    j = torch.arange(shared, shared + width)
    blocks = table.gather(1, (j // block_size).clamp(max=table.shape[1] - 1).expand(seqs, -1))
    kv_index = torch.where(j < total[:, None], blocks * block_size + j % block_size, 0)
    # Query i of a sequence sees keys up to its own position; padded query rows see every
    # real key, so no row is empty (an all -inf row would turn into NaN).
    i = torch.arange(max_q)
    last = torch.minimum(start[:, None] + i, total[:, None] - 1)  # [seqs, max_q]
    allowed = j[None, None, :] <= last[:, :, None]
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, float("-inf"))
    mask = mask.unsqueeze(1)
    if max_q > 1 and groups > 1:
        mask = mask.repeat(1, 1, groups, 1)
    q_index = padded_rows(length, max_q, device) if max_q > 1 else None
    return _Group(int(length.sum()), max_q, kv_index.to(device, non_blocking=True),
                  mask.to(device, non_blocking=True), q_index,
                  _prefix_slots(table, shared, block_size, device))


def _chunks(table: torch.Tensor, start: torch.Tensor, length: torch.Tensor, block_size: int,
            groups: int, device: torch.device) -> _Chunks:
    total = int(length.sum())
    shared = _shared_prefix(table, start, block_size, kv_rows=total * groups)

    def slots(i: int, begin: int, end: int) -> torch.Tensor:
        pos = torch.arange(begin, end)
        return (table[i, pos // block_size] * block_size + pos % block_size).to(device)

    starts, lengths = start.tolist(), length.tolist()
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    past = [slots(i, shared, s) if s > shared else None for i, s in enumerate(starts)]
    chunk = [slots(i, s, s + n) for i, (s, n) in enumerate(zip(starts, lengths))]
    return _Chunks(total, offsets, lengths, past, chunk, _prefix_slots(table, shared, block_size, device))


def _prefix_slots(table: torch.Tensor, shared: int, block_size: int,
                  device: torch.device) -> torch.Tensor | slice | None:
    """Slots of the first ``shared`` tokens of ``table``'s first sequence (a slice when its
    blocks are contiguous in the pool, so they are read in place)."""
    if not shared:
        return None
    first_blocks = table[0, :shared // block_size]
    if bool((first_blocks - first_blocks[0] == torch.arange(len(first_blocks))).all()):
        begin = int(first_blocks[0]) * block_size
        return slice(begin, begin + shared)
    pj = torch.arange(shared)
    return (table[0, pj // block_size] * block_size + pj % block_size).to(device)


# Below this many shared tokens the extra kernels of the split cost more than they save.
_MIN_SHARED_TOKENS = 32
# Cap on the shared part's score matrix (kv_heads * query rows * keys, per layer).
_MAX_SHARED_SCORES = 1 << 26


def _shared_prefix(table: torch.Tensor, start: torch.Tensor, block_size: int, kv_rows: int) -> int:
    """Tokens at the front that every sequence of the group holds in the *same* blocks.

    Only cached (radix) blocks are shared, and every query of the step comes after them, so
    that part of attention needs no mask and its keys are read once for the whole group.
    """
    if len(table) < 2:
        return 0
    same = (table == table[0]).all(0).int()
    num_blocks = int(same.cumprod(0).sum())
    num_blocks = min(num_blocks, int(start.min()) // block_size)
    shared = num_blocks * block_size
    if shared < _MIN_SHARED_TOKENS or kv_rows * shared > _MAX_SHARED_SCORES:
        return 0
    return shared


def torch_attention(q: torch.Tensor, k_slots: torch.Tensor, v_slots: torch.Tensor,
                    meta: AttentionMetadata, scale: float) -> torch.Tensor:
    """``q``: [tokens, heads, dim] -> [tokens, heads, dim], attending over the pool."""
    heads, dim = q.shape[1], q.shape[2]
    kv_heads = k_slots.shape[1]
    groups = heads // kv_heads
    outs, offset = [], 0
    for group in (meta.decode, meta.prefill):
        if group is None:
            continue
        qg = q[offset:offset + group.num_tokens]
        offset += group.num_tokens
        if isinstance(group, _Chunks):
            outs.append(_chunked_attention(qg, k_slots, v_slots, group, scale))
            continue
        seqs, rows = group.kv_index.shape[0], groups * group.max_q
        if group.q_index is None:  # one query per sequence: heads of a group become its rows
            qp = qg.reshape(seqs, kv_heads, groups, dim)
        else:
            padded = qg.new_zeros(seqs * group.max_q, heads, dim).index_copy_(0, group.q_index, qg)
            qp = padded.view(seqs, group.max_q, kv_heads, groups, dim).permute(0, 2, 3, 1, 4)
            qp = qp.reshape(seqs, kv_heads, rows, dim)
        k = _gather(k_slots, group.kv_index).transpose(1, 2)  # [seqs, kv_heads, keys, dim]
        v = _gather(v_slots, group.kv_index).transpose(1, 2)
        if group.prefix is None:
            out = F.scaled_dot_product_attention(qp, k, v, attn_mask=group.mask, scale=scale)
        else:
            if isinstance(group.prefix, slice):
                k_shared, v_shared = k_slots[group.prefix], v_slots[group.prefix]
            else:
                k_shared = k_slots.index_select(0, group.prefix)
                v_shared = v_slots.index_select(0, group.prefix)
            out = _cascade(qp, k_shared, v_shared, k, v, group.mask, scale)
        if group.q_index is None:
            outs.append(out.reshape(seqs, heads, dim))
            continue
        out = out.view(seqs, kv_heads, groups, group.max_q, dim).permute(0, 3, 1, 2, 4)
        outs.append(out.reshape(seqs * group.max_q, heads, dim).index_select(0, group.q_index))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def _chunked_attention(q: torch.Tensor, k_slots: torch.Tensor, v_slots: torch.Tensor,
                       group: _Chunks, scale: float) -> torch.Tensor:
    """Prefill chunks per sequence: shared prefix, own past and causal chunk, no masks."""
    qh = q.transpose(0, 1).unsqueeze(0)  # [1, heads, tokens, dim]
    shared = None
    if group.prefix is not None:
        shared = _attend_cpu(qh, _heads_first(k_slots, group.prefix),
                             _heads_first(v_slots, group.prefix), False, scale)
    out = torch.empty_like(qh)
    for off, n, past, chunk in zip(group.offsets, group.lengths, group.past, group.chunk):
        qi = qh[:, :, off:off + n]
        parts = [_attend_cpu(qi, _heads_first(k_slots, chunk), _heads_first(v_slots, chunk),
                             True, scale)]
        if past is not None:
            parts.append(_attend_cpu(qi, _heads_first(k_slots, past), _heads_first(v_slots, past),
                                     False, scale))
        if shared is not None:
            parts.append((shared[0][:, :, off:off + n], shared[1][:, :, off:off + n]))
        out[:, :, off:off + n] = _merge(parts)
    return out[0].transpose(0, 1)


def _heads_first(slots: torch.Tensor, index: torch.Tensor | slice) -> torch.Tensor:
    """Keys (or values) at ``index`` as ``[1, kv_heads, keys, dim]``."""
    picked = slots[index] if isinstance(index, slice) else slots.index_select(0, index)
    return picked.permute(1, 0, 2).unsqueeze(0)


def _attend_cpu(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused CPU kernel (grouped-query heads handled natively): output and log-sum-exp."""
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, 0.0, causal, scale=scale)[:2]
    return out, lse


def _merge(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Attention over the union of disjoint key sets from each set's output and log-sum-exp."""
    if len(parts) == 1:
        return parts[0][0]
    lse = torch.stack([p[1] for p in parts])
    weights = torch.softmax(lse, dim=0).unsqueeze(-1)  # e^lse_k / sum_j e^lse_j
    return sum(w * o for w, (o, _) in zip(weights, parts))


def _gather(slots: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # index_select on the flattened index is several times faster than advanced indexing.
    return slots.index_select(0, index.view(-1)).view(*index.shape, *slots.shape[1:])


def _cascade(q: torch.Tensor, k_shared: torch.Tensor, v_shared: torch.Tensor, k: torch.Tensor,
             v: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Attention split in two: every query against the shared prefix (``[keys, kv_heads, dim]``,
    one product for the whole group), and each sequence against its own rest; the two
    softmaxes are merged through their log-sum-exps (exact up to rounding)."""
    seqs, kv_heads, rows, dim = q.shape
    flat = q.transpose(0, 1).reshape(1, kv_heads, seqs * rows, dim)
    o1, lse1 = _attend_lse(flat, k_shared.permute(1, 0, 2)[None], v_shared.permute(1, 0, 2)[None],
                           None, scale)
    o1 = o1.view(kv_heads, seqs, rows, dim).transpose(0, 1)
    lse1 = lse1.view(kv_heads, seqs, rows, 1).transpose(0, 1)
    o2, lse2 = _attend_lse(q, k, v, mask, scale)
    w1 = torch.sigmoid(lse1 - lse2)  # = e^lse1 / (e^lse1 + e^lse2), without overflow
    return (o2.float() + (o1.float() - o2.float()) * w1).to(q.dtype)


def _attend_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention that also returns each row's log-sum-exp ``[..., rows, 1]`` (float32)."""
    if q.device.type == "cpu" and q.dtype == torch.float32:
        # The fused CPU kernel behind SDPA returns the log-sum-exp too.
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, False, attn_mask=mask, scale=scale)
        return out, lse.unsqueeze(-1)
    s = torch.matmul(q.float() * scale, k.float().transpose(-1, -2))
    if mask is not None:
        s = s + mask
    top = s.amax(-1, keepdim=True)
    p = s.sub_(top).exp_()
    total = p.sum(-1, keepdim=True)
    out = torch.matmul(p, v.float()) / total
    return out, top + total.log()


def helium_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, scaling: float | None = None,
                     dropout: float = 0.0, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """The function registered with transformers' ``AttentionInterface`` as ``"helium"``.

    ``query``/``key``/``value`` are ``[1, heads, tokens, dim]``; returns ``[1, tokens, heads, dim]``.
    Outside an engine step (someone calls the model directly) it falls back to transformers'
    SDPA attention, which is right for one unpadded sequence.
    """
    ctx = _STEP.get()
    if ctx is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        if query.shape[0] > 1 and attention_mask is None:
            raise EngineError("this model is set up for HeliumSQL's engine; batched calls outside "
                              "the engine are not supported (load a separate copy of the model)")
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                      dropout=dropout, **kwargs)
    layer = module.layer_idx
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    ctx.pool.write(layer, ctx.meta.slot_mapping, key[0].transpose(0, 1), value[0].transpose(0, 1))
    q, k_slots, v_slots = query[0].transpose(0, 1), ctx.pool.k_slots[layer], ctx.pool.v_slots[layer]
    if ctx.backend == "flex":
        out = flex_attention_paged(ctx.flex_kernel, q, k_slots, v_slots, ctx.meta.flex, scale)
    else:
        kernel = flash_attention if ctx.backend == "flash" else torch_attention
        out = kernel(q, k_slots, v_slots, ctx.meta, scale)
    return out.unsqueeze(0), None


def register() -> str:
    """Register ``"helium"`` with transformers (idempotent) and return the name."""
    from transformers import AttentionInterface

    AttentionInterface.register("helium", helium_attention)
    return "helium"
