"""Query results: a DuckDB relation, with the LLM figures of the query beside it.

A statement DuckDB runs on its own comes back as the relation DuckDB returned, so every value, type
and method is DuckDB's (``fetchall``, ``df``, ``pl``, ``show``, ``filter``, ``join`` ...; ``relation``
is the relation itself). A query with LLM calls is materialised when it finishes (its per-query
UDFs are gone afterwards) and read through a relation over its rows. Two additions: ``arrow()``
always gives a ``pyarrow.Table`` (DuckDB 2's relation gives a reader; ``to_arrow_reader`` still
does), and ``fetchone`` / ``fetchmany`` read one run of the relation a row at a time, as a cursor.

>>> res = Result.from_relation(duckdb.connect().sql("SELECT 42 AS answer"))  # as con.sql gives
>>> res.fetchall(), res.columns
([(42,)], ['answer'])
>>> res.filter("answer > 0").aggregate("count(*)").fetchall()
[(1,)]
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from heliumsql.stats import QueryStats


class Result:
    """The result of ``Connection.sql``. Build with :meth:`from_relation`, :meth:`from_arrow` or
    :meth:`empty` (a statement that returned nothing). ``analyze`` holds per-operator figures for
    queries with LLM calls; any other attribute is the DuckDB relation's."""

    def __init__(self, relation: duckdb.DuckDBPyRelation | None, table: pa.Table | None = None,
                 analyze: QueryStats | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> None:
        self._relation, self._table, self.analyze, self._con = relation, table, analyze, con
        self._cursor: Iterator[tuple[Any, ...]] | None = None

    @classmethod
    def from_relation(cls, relation: duckdb.DuckDBPyRelation,
                      analyze: QueryStats | None = None) -> "Result":
        return cls(relation, analyze=analyze)

    @classmethod
    def from_arrow(cls, table: pa.Table, analyze: QueryStats | None = None,
                   con: duckdb.DuckDBPyConnection | None = None) -> "Result":
        """Rows already computed; the relation over them is made on ``con`` when first needed
        (a connection of its own when none is given)."""
        return cls(None, table, analyze, con)

    @classmethod
    def empty(cls, analyze: QueryStats | None = None) -> "Result":
        return cls(None, analyze=analyze)

    def attached(self, con: duckdb.DuckDBPyConnection) -> "Result":
        """This result with its rows readable on ``con`` (joins with that connection's tables)."""
        if self._relation is not None or self._table is None:
            return self
        return Result.from_arrow(self._table, self.analyze, con)

    @property
    def relation(self) -> duckdb.DuckDBPyRelation | None:
        """The DuckDB relation; ``None`` for a statement that returned nothing."""
        if self._relation is None and self._table is not None and self._table.num_columns:
            con = self._con if self._con is not None else duckdb.connect()
            self._relation = con.from_arrow(self._table)
        return self._relation

    @property
    def returns_rows(self) -> bool:
        """Whether these are rows of a query (or RETURNING), not the count or success flag
        DuckDB gives for a command (CREATE, INSERT, SET ...), which a shell does not print."""
        relation = self.relation
        # DuckDB 2 keeps the statement's return type on the relation it hands back.
        return relation is not None and getattr(relation, "_return_type", "query_result") == "query_result"

    # -- what has no relation to ask ------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        relation = self.relation
        return [] if relation is None else list(relation.columns)

    def fetchall(self) -> list[tuple[Any, ...]]:
        relation = self.relation
        return [] if relation is None else relation.fetchall()

    def arrow(self) -> pa.Table:
        """The whole result as a ``pyarrow.Table`` (for an LLM query, the rows it computed)."""
        if self._table is not None:
            return self._table
        relation = self.relation
        return pa.table({}) if relation is None else relation.to_arrow_table()

    def fetch_record_batch(self, rows: int = 1_000_000) -> pa.RecordBatchReader:
        """Stream the result in record batches of at most ``rows`` rows."""
        if self._table is not None or self.relation is None:
            table = self.arrow()
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=rows))
        return self.relation.to_arrow_reader(rows)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(self.fetch_record_batch())

    # -- a cursor over one run ------------------------------------------------------------------
    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of one run of the result, ``None`` after the last."""
        return next(self._rows(), None)

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        """The next ``size`` rows of one run of the result."""
        return list(itertools.islice(self._rows(), size))

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        if self._cursor is None:
            relation = self.relation
            self._cursor = iter(()) if relation is None else relation.iter_rows()
        return self._cursor

    # -- everything else is DuckDB's --------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        relation = self.relation
        if relation is None:
            raise AttributeError(f"the statement returned no result, so it has no {name!r}")
        attribute = getattr(relation, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def method(*args: Any, **kwargs: Any) -> Any:
            # A Result passed on (res.join(other_res, ...)) is its relation to DuckDB.
            args = tuple(_relation_of(a) for a in args)
            return attribute(*args, **{k: _relation_of(v) for k, v in kwargs.items()})

        return method

    def __getitem__(self, name: str) -> duckdb.DuckDBPyRelation:
        relation = self.relation
        if relation is None:
            raise TypeError("the statement returned no result")
        return relation[name]

    def __len__(self) -> int:
        relation = self.relation
        return 0 if relation is None else len(relation)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        relation = self.relation
        if relation is None:
            return {"text/plain": repr(self)}
        return relation._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        relation = self.relation
        return "Result(empty)" if relation is None else repr(relation)


def _relation_of(value: Any) -> Any:
    return value.relation if isinstance(value, Result) else value
