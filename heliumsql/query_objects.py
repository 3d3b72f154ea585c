"""The per-query DuckDB objects a plan refers to: one UDF per LLM node, one table per llm_map.

A node's UDF ``__helium_<id>(prompt) -> answer`` looks the prompt up in the node's results. If a
prompt was not precomputed (a call in JOIN ON or a CASE branch, or rows a fragment could not
predict), the UDF asks the node's operator to compute it on the spot, so a query's answer never
depends on how much the planner managed to precompute. Everything is removed on ``close()``.

While a node is ``pending`` (it still runs and a downstream node reads its answers early, see
:mod:`heliumsql.workflow.pipeline`), its UDF answers NULL for prompts without an answer yet
instead of computing them, and ``__helium_ready_<id>(prompt)`` says which prompts have one.

>>> import duckdb
>>> con = duckdb.connect()
>>> runtime = QueryObjects(con)
>>> runtime.declare_udf(1, "VARCHAR"); runtime.store(1, {"hi": "hello"})
>>> con.sql("SELECT __helium_1('hi')").fetchall()
[('hello',)]
>>> runtime.close(); con.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name = '__helium_1'").fetchall()
[(0,)]
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from heliumsql.plan.names import map_table_name, ready_udf_name, udf_name
from heliumsql.plan.nodes import LogicalPlan


class OnDemand(Protocol):
    def compute_missing(self, prompts: list[str]) -> dict[str, Any]: ...


class QueryObjects:
    """Owns the UDFs and tables of one query and the results they serve."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.results: dict[int, dict[str, Any]] = {}
        self.operators: dict[int, OnDemand] = {}
        self.pending: set[int] = set()  # nodes still running whose answers are read early
        self.error: BaseException | None = None
        self._udfs: list[str] = []
        self._tables: list[str] = []
        self._lock = threading.RLock()

    def declare(self, plan: LogicalPlan) -> None:
        """Create the UDF or table of every node of ``plan`` (for the query's run only)."""
        for node in plan.nodes:
            empty = plan.stand_ins.table_sql(node.id)
            if empty is not None:
                self.declare_table(node.id, self.con.sql(empty).to_arrow_table().schema)
            else:
                self.declare_udf(node.id, node.call.returns)

    def declare_udf(self, node_id: int, returns: str) -> None:
        name = udf_name(node_id)
        # DuckDB says which Arrow type it reads back as ``returns`` (any type, nested included).
        arrow_type = self.con.sql(f"SELECT NULL::{returns}").to_arrow_table().schema.field(0).type

        def udf(prompts: pa.Array) -> pa.Array:
            try:
                return pa.array(self.lookup(node_id, prompts.to_pylist()), type=arrow_type)
            except BaseException as exc:
                # DuckDB wraps UDF errors in its own; keep ours (and Ctrl-C) to re-raise.
                self.error = self.error or exc
                raise

        self.con.create_function(name, udf, ["VARCHAR"], returns, type="arrow",
                                 null_handling="special", side_effects=False)
        self._udfs.append(name)

    def declare_ready_udf(self, node_id: int) -> None:
        """``__helium_ready_<id>(prompt)``: true once the node answered ``prompt`` (or NULL)."""
        name = ready_udf_name(node_id)

        def ready(prompts: pa.Array) -> pa.Array:
            with self._lock:
                known = self.results.get(node_id, {})
                return pa.array([p is None or p in known for p in prompts.to_pylist()],
                                type=pa.bool_())

        self.con.create_function(name, ready, ["VARCHAR"], "BOOLEAN", type="arrow",
                                 null_handling="special", side_effects=True)
        self._udfs.append(name)

    def declare_table(self, node_id: int, schema: pa.Schema) -> None:
        self.publish_table(node_id, schema.empty_table())

    def publish_table(self, node_id: int, table: pa.Table) -> None:
        name = map_table_name(node_id)
        if name in self._tables:
            self.con.unregister(name)
        else:
            self._tables.append(name)
        self.con.register(name, table)

    def store(self, node_id: int, answers: dict[str, Any]) -> None:
        with self._lock:
            self.results.setdefault(node_id, {}).update(answers)

    def lookup(self, node_id: int, prompts: list[str | None]) -> list[Any]:
        with self._lock:
            known = self.results.setdefault(node_id, {})
            missing = list(dict.fromkeys(p for p in prompts if p is not None and p not in known))
            if missing and node_id in self.pending:
                return [known.get(p) if p is not None else None for p in prompts]
            if missing:
                operator = self.operators.get(node_id)
                if operator is None:
                    # Only reachable while planning (nothing is executed then): no answers yet.
                    return [None] * len(prompts)
                known.update(operator.compute_missing(missing))
            return [None if p is None else known[p] for p in prompts]

    def close(self) -> None:
        """Remove every UDF and table this query registered (errors here must not mask the
        query's own error, and the connection must stay usable)."""
        for name in self._udfs:
            try:
                self.con.remove_function(name)
            except duckdb.Error:
                pass
        for name in self._tables:
            try:
                self.con.unregister(name)
            except duckdb.Error:
                pass
        self._udfs, self._tables = [], []
