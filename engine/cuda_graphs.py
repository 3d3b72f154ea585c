"""Decode steps replayed from CUDA graphs, one graph per batch-size bucket (as nano-vllm and
vLLM do): a step with only decodes launches one graph instead of hundreds of kernels.

A graph replays fixed memory addresses, so every input of a decode step lives in static
buffers sized for the largest bucket: token ids, positions, slots, and the FlexAttention block
mask's inputs (block tables, query positions, block counts). A step of ``n`` sequences is padded
to the bucket ``b >= n``: padding rows read token 0 at position 0, see no key, and write their
K/V to the pool's scratch slot, so they cannot touch any request's cache; their logits are
dropped. The physical-to-logical block map is rebuilt from the tables inside the graph.

:meth:`DecodeGraphs.run` works the same without capture (``capture=False``): the static-buffer
path then runs eagerly, which is how CPU tests check the padding logic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from heliumsql.engine import attention
from heliumsql.engine.flex import (FlexGroup, FlexInputs, FlexKernels, flex_inputs, logical_blocks,
                                   paged_block_mask)
from heliumsql.engine.kv_pool import KVPool


def batch_buckets(max_batch: int) -> list[int]:
    """Batch sizes that get a graph: powers of two up to ``max_batch`` (and ``max_batch``).

    >>> batch_buckets(48)
    [1, 2, 4, 8, 16, 32, 48]
    """
    sizes = [1]
    while sizes[-1] * 2 < max_batch:
        sizes.append(sizes[-1] * 2)
    if max_batch > 1:
        sizes.append(max_batch)
    return sizes


def pick_bucket(n: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket holding ``n`` sequences, ``None`` if none does.

    >>> pick_bucket(5, [1, 2, 4, 8]), pick_bucket(9, [1, 2, 4, 8])
    (8, None)
    """
    return next((b for b in buckets if b >= n), None)


class DecodeGraphs:
    """Static buffers and one lazily captured graph per bucket for decode-only steps."""

    def __init__(self, forward: Callable[..., Any], pool: KVPool, kernel: FlexKernels,
                 max_batch: int, max_blocks: int, capture: bool) -> None:
        assert pool.scratch_slot is not None, "decode graphs need a pool with a scratch block"
        self.forward, self.pool, self.kernel, self.capture = forward, pool, kernel, capture
        self.buckets = batch_buckets(max_batch)
        self.block_size = pool.block_size
        self.pool_blocks = pool.num_physical_blocks
        device = pool.k.device
        b = self.buckets[-1]
        self.ids = torch.zeros(1, b, dtype=torch.long, device=device)
        self.positions = torch.zeros(1, b, dtype=torch.long, device=device)
        self.slots = torch.full((b,), pool.scratch_slot, dtype=torch.long, device=device)
        none = torch.zeros(0, dtype=torch.long)
        empty = flex_inputs(torch.zeros(0, max_blocks, dtype=torch.long), none, none,
                            self.block_size, self.pool_blocks, b, 1, max_blocks)
        self.inputs = FlexInputs(*(t.to(device) for t in empty.tensors()))
        self.to_logical = torch.empty(b, self.pool_blocks + 1, dtype=torch.int32, device=device)
        self._graphs: dict[int, tuple[Any, torch.Tensor]] = {}
        self._memory = torch.cuda.graph_pool_handle() if capture else None

    def fits(self, num_seqs: int, max_blocks: int) -> bool:
        return (pick_bucket(num_seqs, self.buckets) is not None
                and max_blocks <= self.inputs.blocks.shape[1])

    def run(self, ids: list[int], tables: Sequence[Sequence[int]], starts: list[int]
            ) -> torch.Tensor:
        """Logits ``[len(ids), vocab]`` of one decode step (sequence ``i`` adds token ``ids[i]``
        at position ``starts[i]``)."""
        n = len(ids)
        b = pick_bucket(n, self.buckets)
        assert b is not None
        width = self.inputs.blocks.shape[1]
        # Padded to this step's longest table only (a table never exceeds ``width``: see
        # ``fits``); flex_inputs widens it to the graph's width, so no 8,192-wide Python lists.
        longest = max(len(t) for t in tables)
        table = torch.tensor([list(t) + [0] * (longest - len(t)) for t in tables],
                             dtype=torch.long)
        start = torch.tensor(starts, dtype=torch.long)
        host = flex_inputs(table, start, torch.ones(n, dtype=torch.long), self.block_size,
                           self.pool_blocks, b, 1, width)
        for static, new in zip(self.inputs.tensors(), host.tensors()):
            static[:b].copy_(new, non_blocking=True)
        bs = self.block_size
        slots = table[torch.arange(n), start // bs] * bs + start % bs
        self._fill(self.ids, torch.tensor(ids), 0, b)
        self._fill(self.positions, start, 0, b)
        self._fill(self.slots, slots, self.pool.scratch_slot, b)
        if not self.capture:
            return self._step(b)[:n]
        if b not in self._graphs:
            self._graphs[b] = self._record(b)
        graph, logits = self._graphs[b]
        graph.replay()
        return logits[:n]

    @staticmethod
    def _fill(static: torch.Tensor, values: torch.Tensor, pad: int, b: int) -> None:
        flat = static.view(-1)
        flat[:len(values)].copy_(values, non_blocking=True)
        flat[len(values):b].fill_(pad)

    def _step(self, b: int) -> torch.Tensor:
        """One decode forward on the static buffers' first ``b`` rows (what a graph records)."""
        inputs = FlexInputs(*(t[:b] for t in self.inputs.tensors()))
        to_logical = logical_blocks(inputs.blocks, self.pool_blocks, out=self.to_logical[:b])
        mask = paged_block_mask(inputs, to_logical, self.block_size, 1, self.pool_blocks)
        group = FlexGroup(b, b, b, 1, None, mask)
        meta = attention.AttentionMetadata(slot_mapping=self.slots[:b], decode=None, prefill=None,
                                           flex=(group, None))
        ctx = attention.StepContext(self.pool, meta, "flex", self.kernel)
        with torch.inference_mode(), attention.step_context(ctx):
            return self.forward(self.ids[:, :b], self.positions[:, :b])

    def _record(self, b: int) -> tuple[Any, torch.Tensor]:
        self._step(b)  # compiles the bucket's kernels and warms the allocator outside capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._memory):
            logits = self._step(b)
        return graph, logits


def max_batch_for_graphs(max_num_seqs: int) -> int:
    """Largest decode batch captured: beyond it a step runs eagerly (large batches are
    compute-bound, where launch overhead no longer matters)."""
    return min(max_num_seqs, 256)

