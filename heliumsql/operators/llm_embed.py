"""``llm_embed(text)``: one FLOAT[d] vector per distinct text, nothing generated.

The texts come from DuckDB like any operator's prompts; each distinct one is embedded once
(:func:`heliumsql.embedding_model.embed_texts`: result cache first, then the model in batches).
No request reaches the engine, so the workflow sees a node that is answered the moment it
starts. Figures: ``distinct_prompts`` distinct texts, ``result_cache_hits`` of them from the
cache, ``engine_requests`` embedded by the model.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import Any

import pyarrow as pa

from heliumsql.embedding_model import EmbeddingModel, embed_texts
from heliumsql.errors import ExecutionError
from heliumsql.operators.base import Key, LlmOperator
from heliumsql.workflow.request import LlmRequest


class LlmEmbed(LlmOperator):
    """The embedding operator (EXPLAIN: ``LlmEmbed``).

    >>> LlmEmbed(node, context).materialize()   # doctest: +SKIP
    []
    """

    @property
    def model(self) -> EmbeddingModel:
        if self.context.embeddings is None:
            raise ExecutionError(f"{self.name}: no embedding model; run llm_embed() through "
                                 "heliumsql.connect(...)")
        return self.context.embeddings.get(self.node.call.option("model"))

    def embed(self, texts: list[str]) -> dict[str, list[float]]:
        """Vectors of ``texts`` (as lists, the UDF's values), counted in the figures."""
        found = embed_texts(self.model, texts, self.context.cache)
        self.stats.distinct_prompts += len(found.vectors)
        self.stats.result_cache_hits += found.num_cached
        self.stats.engine_requests += found.num_computed
        return {t: v.tolist() for t, v in found.vectors.items()}

    def materialize(self, asked: Collection[Key] = frozenset()) -> list[LlmRequest]:
        self._started = time.perf_counter()
        keys = self.read_keys()
        self.row_prompts = [p for p, _ in keys]
        self._keys = list(dict.fromkeys(keys))
        for text, vector in self.embed([p for p, _ in self._keys]).items():
            self.answers[(text, 0)] = vector
        self.stats.elapsed_s += time.perf_counter() - self._started
        self._report(force=True)
        return []

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        start = time.perf_counter()
        self.stats.on_demand_prompts += len(prompts)
        vectors = self.embed(prompts)
        self.stats.elapsed_s += time.perf_counter() - start
        return vectors

    def execute(self) -> Iterator[pa.RecordBatch]:
        """Run on its own: (text, vector) batches, one row per distinct non-NULL text."""
        vectors = self.embed(list(dict.fromkeys(p for p, _ in self.read_keys())))
        yield pa.RecordBatch.from_pydict({"prompt": list(vectors), "output": list(vectors.values())})
