"""Token bitmasks: one bit per vocabulary entry, 32 to an int32 word, as llguidance fills them.

llguidance ships torch helpers for these, but importing them imports torch's compiler
(``torch._dynamo`` and inductor: 1.6 s) and their apply kernel is ``torch.compile``d, so the first
typed query of a process paid about 4 s before its first token (most of ``heliumsql --demo``'s
time). Unpacking the bits eagerly costs a few element-wise ops on a (batch, vocabulary) tensor,
well under a millisecond for a batch of 64 on CPU (benchmarks/RESULTS.md, "Constrained decoding").

>>> mask = allocate(2, 40)
>>> mask[0] = 0; mask[0, 0] = 0b101          # row 0 allows tokens 0 and 2 only
>>> logits = torch.zeros(2, 40)
>>> apply_inplace(logits, mask)
>>> logits[0, :4].tolist(), bool(logits[1].isfinite().all())
([0.0, -inf, 0.0, -inf], True)
"""

from __future__ import annotations

from typing import Any

import torch


def allocate(batch: int, vocab_size: int) -> torch.Tensor:
    """A (batch, ceil(vocab / 32)) int32 mask with every token allowed."""
    return torch.full((batch, (vocab_size + 31) // 32), -1, dtype=torch.int32)


def fill(executor: Any, rows: list[tuple[Any, int]], mask: torch.Tensor) -> None:
    """Fill the mask rows of ``(matcher, row)`` pairs with llguidance's executor (outside the GIL)."""
    assert mask.dtype == torch.int32 and mask.is_contiguous() and mask.device.type == "cpu"
    executor.unsafe_compute_mask_ptr(rows, mask.data_ptr(), mask.shape[1] * 4, mask.shape[0])


def apply_inplace(logits: torch.Tensor, mask: torch.Tensor) -> None:
    """Set to -inf the logits of tokens whose bit is 0 (logits past the mask's words too)."""
    with torch.inference_mode():  # the engine's logits are inference tensors
        bits = torch.arange(32, dtype=torch.int32, device=mask.device)
        allowed = ((mask.unsqueeze(-1) >> bits) & 1).view(mask.shape[0], -1).bool()
        vocab = logits.shape[1]
        if vocab > allowed.shape[1]:
            logits[:, allowed.shape[1]:] = float("-inf")
            vocab = allowed.shape[1]
        logits[:, :vocab].masked_fill_(~allowed[:, :vocab], float("-inf"))
