"""``llm_search(TABLE docs, 'query text', column => 'v', k => 10)``: the k most similar rows.

The query text is embedded (:func:`heliumsql.embedding_model.embed_texts`, result cache
first), then :class:`heliumsql.vector_search.VectorIndexes` finds the rows: exact in DuckDB or
through an HNSW index, as the node's ``method`` and the relation's size say. The rows are
published as the table ``__helium_map_<id>``; EXPLAIN ANALYZE says which method ran.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from heliumsql.errors import ExecutionError
from heliumsql.operators.base import Key
from heliumsql.operators.llm_embed import LlmEmbed
from heliumsql.vector_search import VectorIndexes
from heliumsql.workflow.request import LlmRequest

if TYPE_CHECKING:
    from heliumsql.query_objects import QueryObjects


class LlmSearch(LlmEmbed):
    """The search operator (EXPLAIN: ``LlmSearch``).

    >>> LlmSearch(node, context).materialize()   # doctest: +SKIP
    []
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table: pa.Table | None = None

    @property
    def query_text(self) -> str:
        return self.node.call.prompt.this

    def materialize(self, asked: Collection[Key] = frozenset()) -> list[LlmRequest]:
        self._started = time.perf_counter()
        if self.input_sql is None:
            raise ExecutionError(f"{self.name}: its input cannot be read on its own")
        vector = self.embed([self.query_text])[self.query_text]
        indexes = self.context.indexes if self.context.indexes is not None else VectorIndexes()
        option = self.node.call.option
        self.table, run = indexes.search(self.context.con, self.input_sql, option("column"),
                                         np.asarray(vector, dtype=np.float32), option("k"),
                                         option("method"))
        self.stats.rows_in += run.num_rows
        self.stats.details.append(("search", run.line()))
        self.stats.elapsed_s += time.perf_counter() - self._started
        self._report(force=True)
        return []

    def execute(self) -> Iterator[pa.RecordBatch]:
        """Run on its own: the found rows, best first."""
        self.materialize()
        assert self.table is not None
        yield from self.table.to_batches()

    def publish(self, objects: "QueryObjects") -> None:
        assert self.table is not None, "publish() before materialize()"
        self.stats.rows_out += self.table.num_rows
        objects.publish_table(self.node.id, self.table)
