"""Runs one packed forward of a Hugging Face causal LM over the paged KV pool."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from heliumsql.engine import attention
from heliumsql.engine.cuda_graphs import DecodeGraphs, max_batch_for_graphs
from heliumsql.engine.errors import EngineError
from heliumsql.engine.flex import FlexKernels
from heliumsql.engine.kv_pool import KVPool
from heliumsql.engine.model_loader import context_length
from heliumsql.engine.placement import Placement
from heliumsql.engine.scheduler import Batch


def model_geometry(config: Any) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of a decoder config (GPT-2's names map onto these)."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, kv_heads, head_dim


def check_supported(model: Any, max_context: int) -> None:
    """Refuse models whose attention the engine does not implement (rather than be wrong)."""
    config = model.config
    name = type(model).__name__
    window = getattr(config, "sliding_window", None)
    uses_window = getattr(config, "use_sliding_window", True) and window is not None
    layer_types = getattr(config, "layer_types", None) or ()
    if (uses_window and window < max_context) or "sliding_attention" in layer_types:
        raise EngineError(f"{name} uses sliding-window attention (window {window}), which the "
                          "HeliumSQL engine does not implement yet; use HFGenerateEngine for it")
    for attr in ("attn_logit_softcapping", "final_logit_softcapping"):
        if getattr(config, attr, None):
            raise EngineError(f"{name} uses logit softcapping ({attr}), which the HeliumSQL "
                              "engine does not implement yet; use HFGenerateEngine for it")
    if any(n.endswith("sinks") for n, _ in model.named_parameters()):
        raise EngineError(f"{name} uses attention sinks, which the HeliumSQL engine does not "
                          "implement yet; use HFGenerateEngine for it")
    if getattr(config, "is_encoder_decoder", False):
        raise EngineError(f"{name} is an encoder-decoder model; the engine runs decoder-only LMs")


class ModelRunner:
    """Owns the model and turns a scheduled :class:`Batch` into next-token logits.

    All scheduled tokens of all sequences go through the model as one ``[1, tokens]`` batch
    with per-sequence ``position_ids``; logits are computed only for each sequence's last
    token when that token completes its prompt (``logits_to_keep``).
    """

    def __init__(self, model: Any, pool: KVPool, block_size: int, placement: Placement,
                 max_num_seqs: int = 256) -> None:
        self.model, self.pool, self.block_size = model, pool, block_size
        self.placement, self.backend = placement, placement.attention
        self.device = next(model.parameters()).device
        self.dtype = pool.k.dtype
        layers, kv_heads, head_dim = model_geometry(model.config)
        self.groups = model.config.num_attention_heads // kv_heads
        model.set_attn_implementation(attention.register())
        self.flex = FlexKernels(placement.compiled) if self.backend == "flex" else None
        max_blocks = -(-context_length(model) // block_size)
        # Compiled FlexAttention sees every block table padded to one width; the compiled
        # CPU kernel wants every pool block listable.
        self.table_width = None
        if placement.compiled:
            cpu = self.device.type == "cpu"
            self.table_width = pool.num_physical_blocks if cpu else max_blocks
        self.graphs = None
        if placement.cuda_graphs:
            self.graphs = DecodeGraphs(self._forward, pool, self.flex,
                                       max_batch_for_graphs(max_num_seqs),
                                       self.table_width or max_blocks,
                                       capture=self.device.type == "cuda")

    def run(self, batch: Batch, keep: list[int]) -> torch.Tensor:
        """Forward ``batch``; return logits ``[len(keep), vocab]`` of the packed tokens ``keep``.

        If FlexAttention fails (its compiler or graph capture on a machine it was not checked
        on), the step runs again on the torch path, which the engine keeps from then on: a
        step only writes K/V of its own new tokens, so running it twice writes the same values.
        The warning and :attr:`placement` say so.
        """
        try:
            return self._run(batch, keep)
        except torch.cuda.OutOfMemoryError:
            raise  # not FlexAttention's fault; the torch path would need more memory still
        except Exception as exc:  # noqa: BLE001 - whatever torch.compile or Triton raise
            if self.backend != "flex":
                raise
            detail = (str(exc).strip().splitlines() or [""])[0][:300]
            warnings.warn(f"FlexAttention failed ({type(exc).__name__}: {detail}); the engine "
                          "continues on the torch attention path without CUDA graphs",
                          RuntimeWarning, stacklevel=2)
            self.placement, self.backend = self.placement.without_flex(), "torch"
            self.flex = self.graphs = self.table_width = None
            return self._run(batch, keep)

    def _run(self, batch: Batch, keep: list[int]) -> torch.Tensor:
        ids: list[int] = []
        starts = []
        for seq, n in zip(batch.seqs, batch.counts):
            c = seq.num_computed
            ids.extend(seq.token_ids[c:c + n])
            starts.append(c)
        tables = [s.block_table for s in batch.seqs]
        if (self.graphs is not None and batch.num_decode == len(batch.seqs)
                and self.graphs.fits(len(ids), max(len(t) for t in tables))):
            logits = self.graphs.run(ids, tables, starts)
            return logits if keep == list(range(len(ids))) else logits[keep]
        meta, positions = attention.build_metadata(
            tables, starts, batch.counts, batch.num_decode, self.block_size, self.groups,
            self.dtype, self.device, self.backend, self.pool.num_physical_blocks,
            self.table_width)
        input_ids = torch.tensor([ids], dtype=torch.long).to(self.device, non_blocking=True)
        keep_t = torch.tensor(keep or [len(ids) - 1], dtype=torch.long).to(self.device)
        ctx = attention.StepContext(self.pool, meta, self.backend, self.flex)
        with torch.inference_mode(), attention.step_context(ctx):
            return self._forward(input_ids, positions[None], keep_t)

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                 keep: torch.Tensor | int = 0) -> torch.Tensor:
        """Logits ``[kept tokens, vocab]`` (``keep`` 0: every token)."""
        out = self.model(input_ids=input_ids, position_ids=positions, use_cache=False,
                         logits_to_keep=keep)
        return out.logits[0]
