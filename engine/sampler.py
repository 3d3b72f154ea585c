"""The local engine's sampler: the next token of each sequence from its logits row."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from heliumsql.engine.sampling import SamplingParams


class Sampler:
    """Picks each sequence's next token from its logits row (greedy, seeded sampling, choices).

    Greedy rows are one vectorized ``argmax``; sampled rows draw from their own request's
    ``torch.Generator``, so a seeded result does not depend on what else is in the batch.
    """

    def __call__(self, logits: torch.Tensor, params: Sequence[SamplingParams],
                 generators: Sequence[torch.Generator | None],
                 allowed: Sequence[list[int] | None]) -> list[int]:
        if any(a is not None for a in allowed):
            masked = torch.full_like(logits, float("-inf"))
            for i, a in enumerate(allowed):
                if a is None:
                    masked[i] = logits[i]
                else:
                    idx = torch.tensor(a, device=logits.device)
                    masked[i, idx] = logits[i, idx]
            logits = masked
        tokens = logits.argmax(-1).tolist()
        for i, p in enumerate(params):
            if not p.greedy:
                tokens[i] = self._sample(logits[i].float(), p, generators[i])
        return tokens

    @staticmethod
    def _sample(row: torch.Tensor, p: SamplingParams, gen: torch.Generator | None) -> int:
        # Same order as transformers' warpers: temperature, top-k, top-p.
        row = row / p.temperature
        if p.top_k and p.top_k < row.numel():
            kth = torch.topk(row, p.top_k).values[-1]
            row = row.masked_fill(row < kth, float("-inf"))
        if p.top_p < 1.0:
            sorted_logits, order = torch.sort(row)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            drop = cum <= 1 - p.top_p
            drop[-1] = False
            row = row.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
        probs = row.softmax(-1)
        return int(torch.multinomial(probs, 1, generator=gen).item())
