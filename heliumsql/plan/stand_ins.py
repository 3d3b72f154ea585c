"""Typed stand-ins for a plan's per-query objects, so planning binds SQL without creating them.

While a statement is planned, later fragments read earlier nodes' answers
(``__helium_<id>(prompt)``) and ``llm_map`` tables (``__helium_map_<id>``) that do not exist
yet: they are created only when the query runs. To let DuckDB bind such SQL (which runs
nothing), every reference is swapped for a typed stand-in first: a call for a NULL of its type
that still reads the prompt once (``CAST(CASE WHEN p IS NULL THEN NULL END AS <type>)``: an
aggregate in the prompt keeps the expression an aggregate, as ``PIVOT ... USING`` needs) and a table for an empty relation
with the table's columns. Planning (and so ``EXPLAIN``) then registers nothing on the
connection.

>>> import sqlglot
>>> ins = StandIns().with_udf(1, "BOOLEAN").with_table(2, "SELECT 1 AS id, 'x' AS out LIMIT 0")
>>> ins.sql(sqlglot.parse_one("SELECT id FROM __helium_map_2 AS m WHERE __helium_1(p)"))
"SELECT id FROM (SELECT 1 AS id, 'x' AS out LIMIT 0) AS m WHERE CAST(CASE WHEN p IS NULL THEN NULL END AS BOOLEAN)"
>>> ins.udf_type(1), ins.table_sql(2) is not None, ins.table_sql(3)
('BOOLEAN', True, None)
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from heliumsql.plan.names import map_table_id, map_table_name, node_id


@dataclass(frozen=True)
class StandIns:
    """``udfs``: node id -> the DuckDB type of its answers; ``tables``: llm_map node id -> SQL
    of an empty relation with its table's columns (already free of other stand-ins)."""

    udfs: tuple[tuple[int, str], ...] = ()
    tables: tuple[tuple[int, str], ...] = ()

    def with_udf(self, node: int, returns: str) -> StandIns:
        return StandIns(self.udfs + ((node, returns),), self.tables)

    def with_table(self, node: int, sql: str) -> StandIns:
        return StandIns(self.udfs, self.tables + ((node, sql),))

    def udf_type(self, node: int) -> str | None:
        return dict(self.udfs).get(node)

    def table_sql(self, node: int) -> str | None:
        return dict(self.tables).get(node)

    def sql(self, tree: exp.Expr) -> str:
        """``tree`` as DuckDB SQL with every known reference swapped for its stand-in."""
        if not self.udfs and not self.tables:
            return tree.sql("duckdb")
        udfs, tables = dict(self.udfs), dict(self.tables)
        copy = tree.copy()
        # Outer references first (find_all is breadth-first); a swapped call keeps its own
        # argument node, so references nested in it are still in the tree when their turn comes.
        for e in list(copy.find_all(exp.Anonymous, exp.Table)):
            node = node_id(e)
            if node is not None and node in udfs:
                args = e.expressions
                if len(args) != 1:
                    e.replace(exp.cast(exp.null(), udfs[node]))
                    continue
                # Always NULL, with the prompt once: an aggregate in it stays the only one.
                value = exp.Case(ifs=[exp.If(this=exp.Is(this=args[0], expression=exp.null()),
                                             true=exp.null())])
                e.replace(exp.Cast(this=value, to=exp.DataType.build(udfs[node])))  # no copy
                continue
            node = map_table_id(e)
            if node is not None and node in tables:
                alias = e.alias or map_table_name(node)
                e.replace(exp.Subquery(this=sqlglot.parse_one(tables[node], read="duckdb"),
                                       alias=exp.TableAlias(this=exp.to_identifier(alias))))
        return copy.sql("duckdb", copy=False)  # the generator may work on our copy