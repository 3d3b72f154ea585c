"""The paged KV pool: two preallocated tensors and a free list of fixed-size blocks."""

from __future__ import annotations

import torch

from heliumsql.engine.errors import EngineError


class KVPool:
    """K and V storage for every layer, ``[layers, blocks, block_size, kv_heads, head_dim]``.

    The tensors are allocated once and never grow; requests own blocks (through their block
    tables or the radix cache) and hand them back with :meth:`free`. A token's *slot* is
    ``block * block_size + offset``, its row in the flattened per-layer views.

    >>> pool = KVPool(num_layers=2, num_blocks=8, block_size=4, num_kv_heads=2, head_dim=8)
    >>> blocks = pool.allocate(3); pool.num_free
    5
    >>> pool.free(blocks); pool.num_free
    8
    """

    def __init__(self, num_layers: int, num_blocks: int, block_size: int, num_kv_heads: int,
                 head_dim: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu", scratch: bool = False) -> None:
        # ``scratch``: one more block, never handed out, where padding rows of a CUDA graph
        # write their K/V (a write to a real slot would corrupt a request's cache).
        physical = num_blocks + int(scratch)
        shape = (num_layers, physical, block_size, num_kv_heads, head_dim)
        try:
            self.k = torch.zeros(shape, dtype=dtype, device=device)
            self.v = torch.zeros(shape, dtype=dtype, device=device)
        except (RuntimeError, MemoryError) as exc:
            raise EngineError(f"could not allocate a KV pool of {num_blocks} blocks "
                              f"({2 * self.bytes_for(shape, dtype) / 2**20:.0f} MiB): {exc}; "
                              "lower kv_cache_memory") from exc
        self.num_blocks, self.block_size, self.num_physical_blocks = num_blocks, block_size, physical
        self.scratch_slot = num_blocks * block_size if scratch else None
        # Flat per-layer views, made once: the attention hot path indexes them by slot.
        self.k_slots = [self.k[i].view(physical * block_size, num_kv_heads, head_dim)
                        for i in range(num_layers)]
        self.v_slots = [self.v[i].view(physical * block_size, num_kv_heads, head_dim)
                        for i in range(num_layers)]
        # Popping from the end hands out low block ids first (handy when reading traces).
        self._free = list(range(num_blocks - 1, -1, -1))
        self._is_free = bytearray(b"\x01") * num_blocks

    @staticmethod
    def bytes_for(shape: tuple[int, ...], dtype: torch.dtype) -> int:
        n = 1
        for d in shape:
            n *= d
        return n * torch.empty((), dtype=dtype).element_size()

    @classmethod
    def bytes_per_block(cls, num_layers: int, block_size: int, num_kv_heads: int, head_dim: int,
                        dtype: torch.dtype) -> int:
        """Bytes one block costs, K and V together."""
        return 2 * cls.bytes_for((num_layers, block_size, num_kv_heads, head_dim), dtype)

    @property
    def num_free(self) -> int:
        return len(self._free)

    def allocate(self, n: int) -> list[int]:
        """Take ``n`` free blocks (the caller checked :attr:`num_free`)."""
        if n > len(self._free):
            raise EngineError(f"KV pool exhausted: asked for {n} blocks, {len(self._free)} free")
        if n == 0:
            return []
        out = self._free[-n:]
        del self._free[-n:]
        out.reverse()  # ascending ids: a prompt's blocks are often one contiguous slot range
        for b in out:
            self._is_free[b] = 0
        return out

    def free(self, blocks: list[int]) -> None:
        for b in blocks:
            assert not self._is_free[b], f"block {b} freed twice"
            self._is_free[b] = 1
        self._free.extend(blocks)

    def is_free(self, block: int) -> bool:
        return bool(self._is_free[block])

    def copy_slots(self, src: int, dst: int, n: int) -> None:
        """Copy the first ``n`` slots of block ``src`` into block ``dst`` in every layer (a
        request reusing the start of a shared block it diverges from, or ends inside)."""
        self.k[:, dst, :n].copy_(self.k[:, src, :n])
        self.v[:, dst, :n].copy_(self.v[:, src, :n])

    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store new tokens' K/V (``[tokens, kv_heads, head_dim]``) at their slots."""
        self.k_slots[layer].index_copy_(0, slots, k)
        self.v_slots[layer].index_copy_(0, slots, v)
