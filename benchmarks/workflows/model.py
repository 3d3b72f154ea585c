"""The workflow suite's model: a ~10M-parameter random-weight Llama with a byte-level tokenizer.

SQL prompts are text, so the tokenizer must take any string: it is the byte-level tokenizer of
:func:`heliumsql.testing.tiny_model` (one token per byte, a small chat template), on a larger
Llama. Nothing is downloaded; the weights come from a seed.

Two edits make every system's answers comparable and every decode the same length:

- the output rows of every token that is not a printable ASCII byte are zeroed, so their logit
  is exactly 0 while the largest of ~95 random logits is positive (all 95 negative has
  probability ~2^-95): the model never emits EOS, padding or control bytes, so each call
  generates exactly ``max_tokens`` tokens and its answer is clean ASCII that later prompts and
  DuckDB carry without surprises;
- the wide initializer (as in the engine suite) keeps random logits far apart, so greedy argmax
  has no near-ties that batched and unbatched kernels could round differently.

>>> model, tokenizer = build_model(QUICK_SHAPE, seed=0)          # doctest: +SKIP
>>> sum(p.numel() for p in model.parameters()) < 1_000_000       # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from benchmarks.harness import ModelShape

# ~9.9M parameters: the engine suite's layer shape, deeper because a byte vocabulary adds little.
FULL_SHAPE = ModelShape(256, 1024, 10, 4, 2, 64, 4096)
QUICK_SHAPE = ModelShape(64, 128, 2, 4, 2, 16, 4096)


def byte_tokenizer() -> Any:
    """The byte-level tokenizer with a chat template used by HeliumSQL's tests."""
    from heliumsql.testing import _byte_level_tokenizer

    return _byte_level_tokenizer(chat=True)


def printable_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that decode to one printable ASCII character (space to ``~``)."""
    keep = []
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i])
        if len(text) == 1 and 32 <= ord(text) < 127:
            keep.append(i)
    return keep


def build_model(shape: ModelShape, seed: int = 0, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """A seeded random Llama of ``shape`` that only ever emits printable ASCII, and its tokenizer."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = byte_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = LlamaConfig(**shape.config_kwargs(len(tokenizer)), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>"), pad_token_id=ids("<pad>"),
                         tie_word_embeddings=False, initializer_range=0.2)
    # Initialised on the device itself (seconds for a 1B model on a GPU; seeded either way).
    with torch.random.fork_rng(devices=[] if device == "cpu" else [torch.device(device)]), \
            torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    keep = torch.zeros(len(tokenizer), dtype=torch.bool, device=model.device)
    keep[printable_token_ids(tokenizer)] = True
    with torch.no_grad():
        model.lm_head.weight[~keep] = 0.0
    model.generation_config.pad_token_id = config.pad_token_id
    return model.to(device=device, dtype=dtype).eval(), tokenizer


def describe(model: Any, shape: ModelShape) -> dict[str, Any]:
    """The model as the report states it."""
    return dict(asdict(shape), architecture="llama", vocab_size=model.config.vocab_size,
                num_parameters=sum(p.numel() for p in model.parameters()),
                tokenizer="byte-level (one token per byte) with a chat template")
