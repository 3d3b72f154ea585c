"""The attention kernels against a plain per-sequence softmax attention over the same pool."""

from __future__ import annotations

import pytest
import torch

from heliumsql.engine import attention, flash, flex
from heliumsql.engine.kv_pool import KVPool

BS, HEADS, KV_HEADS, DIM = 4, 4, 2, 8


def _setup(seed: int, shared_blocks: int, lengths: list[int], starts: list[int],
           scattered: bool = False):  # noqa: ANN202
    gen = torch.Generator().manual_seed(seed)
    pool = KVPool(1, 128, BS, KV_HEADS, DIM)
    pool.k.copy_(torch.randn(pool.k.shape, generator=gen))
    pool.v.copy_(torch.randn(pool.v.shape, generator=gen))
    free = iter(range(shared_blocks, 128))
    shared = list(range(shared_blocks))[::-1] if scattered else list(range(shared_blocks))
    tables = []
    for start, n in zip(starts, lengths):
        need = -(-(start + n) // BS)
        tables.append(shared[:need] + [next(free) for _ in range(need - shared_blocks)])
    q = torch.randn(sum(lengths), HEADS, DIM, generator=gen)
    return pool, tables, q


def _reference(pool: KVPool, tables, starts, lengths, q) -> torch.Tensor:  # noqa: ANN001
    outs, offset = [], 0
    for table, start, n in zip(tables, starts, lengths):
        slots = torch.tensor([table[j // BS] * BS + j % BS for j in range(start + n)])
        k = pool.k_slots[0][slots].repeat_interleave(HEADS // KV_HEADS, 1)  # [keys, heads, dim]
        v = pool.v_slots[0][slots].repeat_interleave(HEADS // KV_HEADS, 1)
        qs = q[offset:offset + n]
        scores = torch.einsum("qhd,khd->hqk", qs, k) * DIM ** -0.5
        pos = torch.arange(start, start + n)[:, None]
        scores = scores.masked_fill(torch.arange(start + n)[None, :] > pos, float("-inf"))
        outs.append(torch.einsum("hqk,khd->qhd", scores.softmax(-1), v))
        offset += n
    return torch.cat(outs)


def _meta(tables, starts, lengths, backend="torch"):  # noqa: ANN001, ANN202
    num_decode = sum(1 for n in lengths if n == 1)
    return attention.build_metadata(tables, starts, lengths, num_decode, BS, HEADS // KV_HEADS,
                                    torch.float32, torch.device("cpu"), backend)


@pytest.mark.parametrize(("shared_blocks", "scattered"), [(0, False), (10, False), (10, True)])
def test_torch_path_matches_plain_attention(shared_blocks: int, scattered: bool) -> None:
    # Decodes first, then prefill chunks of different lengths and offsets; with a shared
    # prefix the split (cascade) path runs, reading the prefix in place or gathered.
    starts, lengths = [45, 50, 41, 40, 44, 47], [1, 1, 1, 9, 3, 6]
    pool, tables, q = _setup(0, shared_blocks, lengths, starts, scattered)
    meta, positions = _meta(tables, starts, lengths)
    assert (meta.decode.prefix is not None) == (meta.prefill.prefix is not None) == bool(shared_blocks)
    if shared_blocks:
        assert isinstance(meta.decode.prefix, slice) != scattered
    assert positions.tolist() == [p for s, n in zip(starts, lengths) for p in range(s, s + n)]
    got = attention.torch_attention(q, pool.k_slots[0], pool.v_slots[0], meta, DIM ** -0.5)
    torch.testing.assert_close(got, _reference(pool, tables, starts, lengths, q), atol=1e-5, rtol=1e-5)


def test_slot_mapping_points_new_tokens_into_their_blocks() -> None:
    starts, lengths = [5, 0], [1, 6]
    pool, tables, _ = _setup(1, 0, lengths, starts)
    meta, _ = _meta(tables, starts, lengths)
    want = [tables[0][1] * BS + 1] + [tables[1][j // BS] * BS + j % BS for j in range(6)]
    assert meta.slot_mapping.tolist() == want


def _fake_flash_varlen(q, k, v, cu_q, cu_k, max_q, max_k, softmax_scale, causal):  # noqa: ANN001, ANN202
    """flash-attn's varlen contract (bottom-right causal), written plainly for CPU checks."""
    assert causal
    outs = []
    for b in range(len(cu_q) - 1):
        qs, ks, vs = q[cu_q[b]:cu_q[b + 1]], k[cu_k[b]:cu_k[b + 1]], v[cu_k[b]:cu_k[b + 1]]
        groups = qs.shape[1] // ks.shape[1]
        ks, vs = ks.repeat_interleave(groups, 1), vs.repeat_interleave(groups, 1)
        scores = torch.einsum("qhd,khd->hqk", qs, ks) * softmax_scale
        nq, nk = len(qs), len(ks)
        future = torch.arange(nk)[None, :] > torch.arange(nq)[:, None] + (nk - nq)
        outs.append(torch.einsum("hqk,khd->qhd", scores.masked_fill(future, float("-inf")).softmax(-1), vs))
        assert nq <= max_q and nk <= max_k
    return torch.cat(outs)


def test_flash_layout_feeds_varlen_attention_correctly(monkeypatch: pytest.MonkeyPatch) -> None:
    # flash-attn needs CUDA; its contract is replayed on CPU to check the layout built for it.
    monkeypatch.setattr(flash, "flash_attn_varlen_func", _fake_flash_varlen)
    starts, lengths = [45, 50, 40, 44], [1, 1, 9, 3]
    pool, tables, q = _setup(2, 10, lengths, starts)
    meta, _ = _meta(tables, starts, lengths, backend="flash")
    got = flash.flash_attention(q, pool.k_slots[0], pool.v_slots[0], meta, DIM ** -0.5)
    torch.testing.assert_close(got, _reference(pool, tables, starts, lengths, q), atol=1e-5, rtol=1e-5)


def test_the_model_still_runs_outside_the_engine(model_paths) -> None:  # noqa: ANN001
    from heliumsql.engine import Engine

    eng = Engine(model_paths["llama"], block_size=4, num_blocks=16)
    ids = torch.tensor([eng.encode("plain forward call")])
    with torch.inference_mode():
        logits = eng.model(ids).logits
    assert logits.shape[:2] == ids.shape and torch.isfinite(logits).all()


@pytest.mark.parametrize(("shared_blocks", "scattered", "padded"),
                         [(0, False, False), (10, False, False), (10, True, True)])
def test_flex_path_reads_the_pool_in_place_and_matches_plain_attention(
        shared_blocks: int, scattered: bool, padded: bool) -> None:
    # Eager FlexAttention (uncompiled: it evaluates the mask everywhere, so the mask alone
    # must be exact); ``padded`` rounds batch and queries up to compile buckets and pads
    # every block table to one width.
    starts, lengths = [45, 50, 41, 40, 44, 47, 0], [1, 1, 1, 9, 3, 6, 5]
    pool, tables, q = _setup(3, shared_blocks, lengths, starts, scattered)
    meta, _ = attention.build_metadata(tables, starts, lengths, 3, BS, HEADS // KV_HEADS,
                                       torch.float32, torch.device("cpu"), "flex",
                                       pool_blocks=pool.num_blocks,
                                       table_width=32 if padded else None)
    decode, prefill = meta.flex
    assert (decode.batch, prefill.batch) == ((4, 4) if padded else (3, 4))
    # The block mask lists each sequence's own blocks, straight from its block table.
    first = decode.block_mask.kv_indices[0, 0, 0, :len(tables[0])].tolist()
    assert first == tables[0]
    if padded:
        assert (prefill.max_q, decode.block_mask.kv_indices.shape[-1]) == (128, 32)
    got = flex.flex_attention_paged(flex.FlexKernels(compiled=False), q, pool.k_slots[0],
                                    pool.v_slots[0], meta.flex, DIM ** -0.5)
    torch.testing.assert_close(got, _reference(pool, tables, starts, lengths, q), atol=1e-5, rtol=1e-5)
