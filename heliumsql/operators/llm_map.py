"""``llm_map(TABLE t | (subquery), template, as => 'col', n => k)``: the input rows plus an
output column; with ``n => k`` each row appears k times with a ``sample`` index 0..k-1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from heliumsql.operators.base import Key, LlmOperator
from heliumsql.plan.names import PROMPT_COLUMN

if TYPE_CHECKING:
    from heliumsql.query_objects import QueryObjects


class LlmMap(LlmOperator):
    """Reads the input rows, asks one answer per (prompt, sample), then publishes the rows with
    their answers as the table ``__helium_map_<id>``.

    >>> LlmMap(node, context).materialize()   # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches: list[pa.RecordBatch] = []

    @property
    def schema(self) -> pa.Schema:
        return self._output(self._batches[0]).schema if self._batches else pa.schema([])

    def read_keys(self) -> list[Key]:
        n = self.node.num_samples
        keys: list[Key] = []
        for batch in self.read_input():
            self._batches.append(batch)
            prompts = batch.column(PROMPT_COLUMN).to_pylist()
            self.stats.rows_in += len(prompts)
            keys.extend((p, s) for p in prompts if p is not None for s in range(n))
        return keys

    def _output(self, batch: pa.RecordBatch) -> pa.Table:
        n = self.node.num_samples
        prompts = batch.column(PROMPT_COLUMN).to_pylist()
        rows = pa.Table.from_batches([batch.drop_columns([PROMPT_COLUMN])])
        if n == 1:
            outputs = [None if p is None else self.answers[(p, 0)] for p in prompts]
            return self._append(rows, outputs)
        rows = rows.take(pa.array([i for i in range(len(prompts)) for _ in range(n)]))
        outputs = [None if p is None else self.answers[(p, s)] for p in prompts for s in range(n)]
        rows = self._append(rows, outputs)
        return rows.append_column("sample", pa.array([s for _ in prompts for s in range(n)], pa.int32()))

    def _append(self, rows: pa.Table, outputs: list[Any]) -> pa.Table:
        """The answers as the output column, or as one column per field of a STRUCT answer."""
        column = pa.array(outputs, self.output_type)
        if not pa.types.is_struct(self.output_type):
            return rows.append_column(self.node.output, column)
        for i, field in enumerate(self.output_type):
            rows = rows.append_column(field.name, column.field(i))
        return rows

    def execute(self) -> Iterator[pa.RecordBatch]:
        """Run on its own: the output rows batch by batch."""
        self.answers.update(self.compute(list(dict.fromkeys(self.read_keys()))))
        for batch in self._batches:
            yield from self._output(batch).to_batches()

    def publish(self, objects: "QueryObjects") -> None:
        tables = [self._output(b) for b in self._batches]
        self._batches = []
        if tables:
            table = pa.concat_tables(tables)
        else:
            table = objects.con.sql(f"SELECT * FROM {self.node.table_name} LIMIT 0").to_arrow_table()
        self.stats.rows_out += table.num_rows
        objects.publish_table(self.node.id, table)
