"""``llm_map(TABLE t | (subquery), template, as => 'col', n => k)``: the input rows plus an
output column; with ``n => k`` each row appears k times with a ``sample`` index 0..k-1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from heliumsql.operators.base import LlmOperator
from heliumsql.planner import PROMPT_COLUMN

if TYPE_CHECKING:
    from heliumsql.runtime import QueryRuntime


class LlmTableMapOperator(LlmOperator):
    """Streams the input batch by batch, answering each batch's new prompts.

    >>> LlmTableMapOperator(node, context).execute()   # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: dict[tuple[str, int], Any] = {}
        self._schema: pa.Schema | None = None

    @property
    def schema(self) -> pa.Schema:
        assert self._schema is not None, "schema is known once the input is read"
        return self._schema

    def execute(self) -> Iterator[pa.RecordBatch]:
        n = self.node.num_samples
        for batch in self.read_input():
            prompts = batch.column(PROMPT_COLUMN).to_pylist()
            self.stats.rows_in += len(prompts)
            keys = [(p, s) for p in dict.fromkeys(prompts) if p is not None for s in range(n)]
            new = [k for k in keys if k not in self._answers]
            self._answers.update(self.compute(new))
            rows = batch.drop_columns([PROMPT_COLUMN])
            if n > 1:
                rows = pa.Table.from_batches([rows]).take(
                    pa.array([i for i in range(len(prompts)) for _ in range(n)]))
                samples = [s for _ in prompts for s in range(n)]
                outputs = [None if p is None else self._answers[(p, s)] for p in prompts for s in range(n)]
                rows = rows.append_column(self.node.output, pa.array(outputs, pa.string()))
                rows = rows.append_column("sample", pa.array(samples, pa.int32()))
                out = rows.combine_chunks().to_batches()
            else:
                outputs = [None if p is None else self._answers[(p, 0)] for p in prompts]
                out = [rows.append_column(self.node.output, pa.array(outputs, pa.string()))]
            for b in out:
                self._schema = b.schema
                self.stats.rows_out += b.num_rows
                yield b

    def run(self, runtime: "QueryRuntime") -> None:
        started = self._started = time.perf_counter()
        runtime.operators[self.node.id] = self
        batches = list(self.execute())
        schema = self._schema or runtime.con.sql(
            f"SELECT * FROM {self.node.table_name} LIMIT 0").to_arrow_table().schema
        runtime.publish_table(self.node.id, pa.Table.from_batches(batches, schema=schema))
        self.stats.elapsed_s += time.perf_counter() - started
