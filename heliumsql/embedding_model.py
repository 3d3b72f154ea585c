"""The embedding models behind ``llm_embed`` and ``llm_search``, and the one way to embed texts.

A connection has one default embedding model:

- ``connect(embedding_model=PATH)``: a local sentence-transformers checkpoint (a directory with
  ``modules.json``), loaded with the ``sentence-transformers`` library (the ``embed`` extra:
  ``pip install 'heliumsql[embed]'``). This is the one to use for real similarity search.
- otherwise the connection's own causal LM, its last hidden states mean-pooled over the text's
  tokens. A generative model was never trained for this, so these vectors are weak: good
  enough to find identical or near-identical texts, not to rank paraphrases.

``llm_embed(text, model => PATH)`` names another sentence-transformers checkpoint per call.
Every model says its ``dimension`` without loading its weights where its config tells (planning
needs the SQL type ``FLOAT[d]``; EXPLAIN loads no model), and loads on the first ``embed``.

Other code (``llm_search``, a join's candidate pruning) embeds through :func:`embed_texts`:
each distinct text once, answers from the result cache where it holds them, the rest in
batches.

>>> from heliumsql.testing import tiny_embedding_model                   # doctest: +SKIP
>>> model = SentenceTransformerModel(tiny_embedding_model(tmp_path / "e"))  # doctest: +SKIP
>>> embed_texts(model, ["a", "b", "a"], cache=None).vectors["a"].shape          # doctest: +SKIP
(32,)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from heliumsql.errors import ModelLoadError, PlanError

if TYPE_CHECKING:
    from heliumsql.result_cache import CacheSession

EXTRA = "embed"
_BATCH = 64


class EmbeddingModel(Protocol):
    """What every embedding model offers: ``name`` (for EXPLAIN), ``dimension`` (no loading
    where avoidable), ``fingerprint`` (result-cache identity; may load), ``embed``."""

    name: str

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, shape (len(texts), dimension)."""
        ...


def require_sentence_transformers() -> Any:
    """The ``sentence_transformers`` module, or a ModelLoadError naming the extra."""
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelLoadError(
            f"embedding_model=PATH needs the sentence-transformers library: pip install "
            f"'heliumsql[{EXTRA}]' (or leave embedding_model unset to mean-pool the "
            "connection's own model)") from exc
    return sentence_transformers


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pooling_width(config: dict[str, Any]) -> int | None:
    """How many hidden-size vectors a Pooling module concatenates (old and new config forms)."""
    modes = config.get("pooling_mode")
    if isinstance(modes, str):
        return 1
    if isinstance(modes, list):
        return len(modes)
    flags = [v for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
    return len(flags) or None


def _configured_dimension(path: Path) -> int | None:
    """The output size a sentence-transformers checkpoint's configs declare, or None when a
    module's effect on it is not in its config (then the model is loaded and asked)."""
    modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    dimension: int | None = None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        config = _read_json(path / module.get("path", "") / "config.json")
        if kind == "Transformer":
            dimension = config.get("hidden_size") or config.get("d_model")
        elif kind == "Pooling":
            width = _pooling_width(config)
            size = config.get("embedding_dimension") or config.get("word_embedding_dimension")
            if width is None or size is None:
                return None
            dimension = width * size
        elif kind == "Dense":
            dimension = config.get("out_features")
        elif kind not in ("Normalize", "Dropout", "LayerNorm"):
            return None
    return int(dimension) if dimension else None


class SentenceTransformerModel:
    """A local sentence-transformers checkpoint (loaded on the first ``embed``)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        self.path = Path(path).expanduser()
        self.name = str(path)
        self.device = device
        if not (self.path / "modules.json").is_file():
            raise ModelLoadError(
                f"embedding model {self.name!r} is not a sentence-transformers checkpoint "
                "directory (it has no modules.json); pass the directory a SentenceTransformer "
                "was saved to with .save(PATH)")
        # Fail now if the library is missing, without importing it (torch and all): planning and
        # EXPLAIN build this object and need only the configured dimension.
        if importlib.util.find_spec("sentence_transformers") is None:
            require_sentence_transformers()
        self._model: Any = None
        self._dimension = _configured_dimension(self.path)

    def _loaded(self) -> Any:
        if self._model is None:
            st = require_sentence_transformers()
            from heliumsql.engine.placement import resolve_device  # imports torch: only here

            device = resolve_device(self.device)
            try:
                self._model = st.SentenceTransformer(str(self.path), device=device,
                                                     local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - whatever a broken checkpoint raises
                raise ModelLoadError(f"could not load embedding model {self.name!r} "
                                     f"({type(exc).__name__}: {exc})") from exc
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self._loaded().get_embedding_dimension())
        return self._dimension

    @cached_property
    def fingerprint(self) -> str:
        # Like the engine's model fingerprint: the configs plus a digest of a few weights (any
        # module stack, not only a transformer).
        from heliumsql.engine.model_loader import add_weights_digest

        digest = hashlib.sha256()
        for config in sorted(self.path.rglob("*.json")):
            digest.update(config.read_bytes())
        add_weights_digest(digest, self._loaded())
        return "st:" + digest.hexdigest()[:16]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._loaded().encode(list(texts), batch_size=_BATCH, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)


class MeanPooledModel:
    """The connection's causal LM as an embedding model: the mean of the last hidden states
    over the text's tokens (weak; see the module docstring)."""

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self._source = model  # a checkpoint path, or a loaded (model, tokenizer) pair
        self.name = "mean-pooled " + (str(model) if not isinstance(model, tuple) else "model")
        self.device = device
        self._pair: tuple[Any, Any] | None = model if isinstance(model, tuple) else None

    def _loaded(self) -> tuple[Any, Any]:
        if self._pair is None:
            from heliumsql.engine.model_loader import load_model

            self._pair = load_model(self._source, self.device)
        return self._pair

    @property
    def dimension(self) -> int:
        if self._pair is not None:
            return int(self._pair[0].config.hidden_size)
        config = _read_json(Path(os.fspath(self._source)).expanduser() / "config.json")
        size = config.get("hidden_size") or config.get("n_embd")
        return int(size) if size else int(self._loaded()[0].config.hidden_size)

    @cached_property
    def fingerprint(self) -> str:
        from heliumsql.engine.model_loader import model_fingerprint

        return "mean:" + model_fingerprint(self._loaded()[0])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model, tokenizer = self._loaded()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rows = []
        with torch.inference_mode():
            for begin in range(0, len(texts), _BATCH):
                ids = [tokenizer(t, add_special_tokens=False)["input_ids"] or [pad]
                       for t in texts[begin:begin + _BATCH]]
                # Padded on the right: under causal attention no real token sees the padding,
                # so a text's vector does not depend on the batch it came in.
                width = max(len(i) for i in ids)
                batch = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
                mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
                out = model(input_ids=batch.to(model.device), attention_mask=mask.to(model.device),
                            output_hidden_states=True)
                hidden = out.hidden_states[-1].float().cpu()
                weights = mask.unsqueeze(-1).float()
                rows.append(((hidden * weights).sum(1) / weights.sum(1)).numpy())
        return np.concatenate(rows).astype(np.float32).reshape(len(texts), self.dimension)


class EmbeddingModels:
    """A connection's embedding models: ``default`` (``connect(embedding_model=...)``, else
    the connection's LLM mean-pooled) and any ``model => PATH`` a call names, each loaded once."""

    def __init__(self, embedding_model: str | os.PathLike | None, llm_model: Any,
                 device: str = "cpu", *, llm_known: bool = True) -> None:
        # ``llm_known`` is False for a connection given only an engine: its model's weights
        # are not ours to read, so there is nothing to mean-pool.
        self._default_path = embedding_model
        self._llm_model, self._device, self._llm_known = llm_model, device, llm_known
        self._models: dict[str | None, EmbeddingModel] = {}

    def get(self, name: str | None = None) -> EmbeddingModel:
        """The model ``model => name`` means (None: the connection's default)."""
        if name not in self._models:
            self._models[name] = self._make(name)
        return self._models[name]

    def _make(self, name: str | None) -> EmbeddingModel:
        if name is not None:
            return SentenceTransformerModel(name, self._device)
        if self._default_path is not None:
            return SentenceTransformerModel(self._default_path, self._device)
        from heliumsql.backends import is_remote
        from heliumsql.models import require_model

        if is_remote(self._llm_model) or not self._llm_known:
            what = "a remote model" if self._llm_known else "a connection made from an engine"
            raise PlanError(f"llm_embed() on {what} needs a local embedding model: "
                            "connect(embedding_model=PATH) with a sentence-transformers checkpoint")
        return MeanPooledModel(require_model(self._llm_model, "heliumsql.connect(model=...)"),
                               self._device)


def _cache_key(session: "CacheSession", fingerprint: str, text: str) -> str:
    return session.text_key("embedding", fingerprint, text)


@dataclass(frozen=True)
class Embeddings:
    """:func:`embed_texts`'s answer: each distinct text's vector, and how many came from the
    result cache (``num_cached``) or were computed by the model (``num_computed``)."""

    vectors: dict[str, np.ndarray]
    num_cached: int
    num_computed: int


def embed_texts(model: EmbeddingModel, texts: Sequence[str],
                cache: "CacheSession | None" = None) -> Embeddings:
    """Embed each distinct text of ``texts`` once: from ``cache`` where it holds the vector,
    the rest by ``model`` in batches (then stored in ``cache``).

    This is the one entry point for code that needs vectors (``llm_embed``, ``llm_search``, a
    join's candidate pruning): ``embed_texts(models.get(name), texts, cache).vectors[text]``.
    """
    distinct = list(dict.fromkeys(texts))
    out: dict[str, np.ndarray] = {}
    if cache is not None and distinct:
        keys = [_cache_key(cache, model.fingerprint, t) for t in distinct]
        for text, hit in zip(distinct, cache.get_values(keys)):
            if hit is not None:
                out[text] = np.asarray(json.loads(hit), dtype=np.float32)
    num_cached = len(out)
    todo = [t for t in distinct if t not in out]
    fingerprint = model.fingerprint if cache is not None else ""
    for begin in range(0, len(todo), _BATCH * 16):
        part = todo[begin:begin + _BATCH * 16]
        for text, row in zip(part, model.embed(part)):
            out[text] = row
            if cache is not None:
                cache.put_value(_cache_key(cache, fingerprint, text), text, json.dumps(row.tolist()),
                                model=fingerprint)
    return Embeddings(out, num_cached, len(todo))


__all__ = ["EXTRA", "EmbeddingModel", "EmbeddingModels", "Embeddings", "MeanPooledModel",
           "SentenceTransformerModel", "embed_texts", "require_sentence_transformers"]
