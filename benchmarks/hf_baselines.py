"""The Hugging Face baselines the engine is measured against, all greedy on the same model.

- :class:`HFSequential` — (a) ``model.generate`` one prompt at a time;
- :class:`HFPaddedBatches` — (b) ``model.generate`` on left-padded batches of ``batch_size``;
- :class:`HFContinuousBatching` — (c) transformers' continuous batching,
  ``model.generate_batch`` with block (prefix) sharing on.

Every system generates exactly ``max_new_tokens`` tokens per prompt: EOS never stops a
sequence (the model's ``generation_config.eos_token_id`` is cleared by the suite, and continuous
batching is given ``eos_token_id=-1``), so all systems do the same work.

>>> out = HFSequential(model, pad_token_id=0).run([[5, 6, 7]], max_new_tokens=4)   # doctest: +SKIP
>>> len(out.token_ids[0])                                                          # doctest: +SKIP
4
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from benchmarks.harness import RunOutput


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


class HFSequential:
    """(a) One ``generate`` call per prompt: no batching, no cache shared between prompts."""

    name = "hf_sequential"
    label = "HF generate, one at a time"

    def __init__(self, model: torch.nn.Module, pad_token_id: int) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.config: dict[str, Any] = {}

    def prepare(self) -> None:
        """Nothing to rebuild: ``generate`` keeps no state between calls."""

    def release(self) -> None:
        """Nothing held between calls."""

    def run(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> RunOutput:
        device = _device(self.model)
        outputs = []
        for prompt in prompts:
            ids = torch.tensor([list(prompt)], device=device)
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids),
                                      max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.pad_token_id)
            outputs.append(out[0, ids.shape[1]:].tolist())
        return RunOutput(outputs, sum(len(p) for p in prompts))


class HFPaddedBatches:
    """(b) ``generate`` on batches of ``batch_size`` prompts, left-padded to the batch's longest.

    Padding is computed like any other token, so it counts as computed prefill.
    """

    name = "hf_padded"
    label = "HF generate, padded batches"

    def __init__(self, model: torch.nn.Module, pad_token_id: int, batch_size: int) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.batch_size = batch_size
        self.config: dict[str, Any] = {"batch_size": batch_size}

    def prepare(self) -> None:
        """Nothing to rebuild: ``generate`` keeps no state between calls."""

    def release(self) -> None:
        """Nothing held between calls."""

    def run(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> RunOutput:
        device = _device(self.model)
        outputs: list[list[int]] = []
        computed = 0
        for start in range(0, len(prompts), self.batch_size):
            batch = [list(p) for p in prompts[start:start + self.batch_size]]
            width = max(len(p) for p in batch)
            ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, prompt in enumerate(batch):
                ids[row, width - len(prompt):] = torch.tensor(prompt)
                mask[row, width - len(prompt):] = 1
            out = self.model.generate(ids.to(device), attention_mask=mask.to(device),
                                      max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.pad_token_id)
            outputs.extend(out[:, width:].tolist())
            computed += ids.numel()
        return RunOutput(outputs, computed)


@contextlib.contextmanager
def _count_prefix_matches() -> Iterator[list[int]]:
    """Accumulate the prompt tokens ``generate_batch`` served from shared blocks while open.

    ``generate_batch`` builds its cache internally and reports no counts, so the one method that
    decides how many prompt tokens a request reuses is wrapped for the duration of the call.
    """
    from transformers.generation.continuous_batching.cache import PagedAttentionCache

    counter = [0]
    original = PagedAttentionCache.search_prefix_match

    def counting(self: Any, request_id: str, prompt_ids: list[int]) -> int:
        matched = original(self, request_id, prompt_ids)
        counter[0] += matched
        return matched

    PagedAttentionCache.search_prefix_match = counting
    try:
        yield counter
    finally:
        PagedAttentionCache.search_prefix_match = original


class HFContinuousBatching:
    """(c) transformers' ``generate_batch``: paged cache, continuous batching, block sharing on.

    ``cache`` holds ``ContinuousBatchingConfig`` fields (``page_size``, ``num_blocks``,
    ``max_batch_tokens``); empty means transformers' automatic sizing.
    """

    name = "hf_generate_batch"
    label = "HF generate_batch (continuous, sharing on)"

    def __init__(self, model: torch.nn.Module, pad_token_id: int, cache: dict[str, int]) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.config: dict[str, Any] = {"allow_block_sharing": True, **cache}

    def prepare(self) -> None:
        """Nothing to rebuild: each ``generate_batch`` call builds (and drops) its own cache."""

    def release(self) -> None:
        """Nothing held between calls."""

    def run(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> RunOutput:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        generation = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                                      eos_token_id=-1, pad_token_id=self.pad_token_id)
        with _count_prefix_matches() as matched:
            results = self.model.generate_batch(
                [list(p) for p in prompts], generation_config=generation,
                continuous_batching_config=ContinuousBatchingConfig(**self.config))
        outputs = list(results.values())
        if len(outputs) != len(prompts) or any(o.error for o in outputs):
            errors = sorted({str(o.error) for o in outputs if o.error})
            raise RuntimeError(f"generate_batch finished {len(outputs)} of {len(prompts)} "
                               f"requests; errors: {errors}")
        for out, prompt in zip(outputs, prompts):
            if list(out.prompt_ids) != list(prompt):
                raise RuntimeError("generate_batch returned results out of request order")
        computed = sum(len(p) for p in prompts) - matched[0]
        return RunOutput([list(o.generated_tokens) for o in outputs], computed)
