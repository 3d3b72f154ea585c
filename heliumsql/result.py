"""Query results: Arrow first, with pandas and Python rows on request, and streaming batches.

A result of a query without LLM calls is a lazy DuckDB relation, read batch by batch by
``fetch_record_batch`` (memory stays flat however large the table). A result of an LLM query is
materialised when the query finishes (its per-query UDFs are gone afterwards), so it costs
memory proportional to the result only.

>>> res = con.sql("SELECT 42 AS answer")                   # doctest: +SKIP
>>> res.fetchall(), res.columns
([(42,)], ['answer'])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from heliumsql.stats import QueryStats

_REPR_ROWS = 10


class Result:
    """The result of ``Connection.sql``. Build with :meth:`from_arrow`, :meth:`from_relation`
    or :meth:`empty`. ``analyze`` holds per-operator figures for queries with LLM calls."""

    def __init__(self, table: pa.Table | None = None, relation: Any = None,
                 analyze: QueryStats | None = None) -> None:
        self._table, self._relation, self.analyze = table, relation, analyze

    @classmethod
    def from_arrow(cls, table: pa.Table, analyze: QueryStats | None = None) -> "Result":
        return cls(table=table, analyze=analyze)

    @classmethod
    def from_relation(cls, relation: Any) -> "Result":
        return cls(relation=relation)

    @classmethod
    def empty(cls, analyze: QueryStats | None = None) -> "Result":
        return cls(table=pa.table({}), analyze=analyze)

    @property
    def columns(self) -> list[str]:
        if self._table is not None:
            return list(self._table.column_names)
        return list(self._relation.columns)

    def arrow(self) -> pa.Table:
        """The whole result as a ``pyarrow.Table`` (read once, then kept)."""
        if self._table is None:
            self._table = self._relation.to_arrow_table()
        return self._table

    def df(self) -> Any:
        """The whole result as a ``pandas.DataFrame``."""
        return self.arrow().to_pandas()

    def fetchall(self) -> list[tuple]:
        """The whole result as a list of row tuples."""
        table = self.arrow()
        return list(zip(*(c.to_pylist() for c in table.columns))) if table.num_columns else []

    def fetch_record_batch(self, rows: int = 1_000_000) -> pa.RecordBatchReader:
        """Stream the result in record batches of at most ``rows`` rows."""
        if self._table is None:
            return self._relation.to_arrow_reader(rows)
        batches = self._table.to_batches(max_chunksize=rows)
        return pa.RecordBatchReader.from_batches(self._table.schema, batches)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.fetch_record_batch())

    def __repr__(self) -> str:
        head = self.arrow().slice(0, _REPR_ROWS) if self._table is not None else \
            self._relation.limit(_REPR_ROWS + 1).to_arrow_table()
        if head.num_columns == 0:
            return "Result(empty)"
        text = head.slice(0, _REPR_ROWS).to_pandas().to_string(index=False, max_colwidth=60)
        if self._table is not None:
            more = self._table.num_rows - _REPR_ROWS
            return text + (f"\n... {more} more rows" if more > 0 else f"\n({self._table.num_rows} rows)")
        return text + ("\n..." if head.num_rows > _REPR_ROWS else f"\n({head.num_rows} rows)")
