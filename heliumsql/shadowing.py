"""User functions that shadow LLM function names: ``CREATE MACRO llm(x) AS ...`` makes
``llm(...)`` DuckDB's macro on that connection, so HeliumSQL must not take such calls over.

The names come from DuckDB's catalog (``duckdb_functions()``, about 35 ms), cached until a
statement that may change the catalog runs (the connection calls :meth:`forget`).

>>> import duckdb, sqlglot, heliumsql.grammar
>>> con = duckdb.connect()
>>> names = ShadowedNames(con)
>>> sorted(names.live())  # doctest: +NORMALIZE_WHITESPACE
['llm', 'llm_agg', 'llm_classify', 'llm_embed', 'llm_filter', 'llm_map', 'llm_score',
 'llm_search']
>>> _ = con.execute("CREATE MACRO llm(x) AS upper(x)"); names.forget()
>>> names.unshadow(sqlglot.parse_one("SELECT llm('a')", read="helium")).sql("duckdb")
"SELECT LLM('a')"
>>> con.sql("SELECT llm('a')").fetchall()
[('A',)]
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

from heliumsql.grammar.expressions import LLM_FUNCTIONS, LlmFunc

LLM_NAMES = frozenset(cls.sql_names()[0].lower() for cls in LLM_FUNCTIONS)


class ShadowedNames:
    """Which LLM function names a user function (macro, UDF, extension) shadows on ``con``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._shadowed: frozenset[str] | None = None  # None: ask DuckDB's catalog again

    def forget(self) -> None:
        """The catalog may have changed: ask again next time."""
        self._shadowed = None

    def live(self) -> frozenset[str]:
        """The LLM function names no user function shadows."""
        if self._shadowed is None:
            names = ", ".join(f"'{name}'" for name in sorted(LLM_NAMES))
            rows = self.con.execute(
                f"SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                f"WHERE lower(function_name) IN ({names})").fetchall()
            self._shadowed = frozenset(name for (name,) in rows)
        return LLM_NAMES - self._shadowed

    def unshadow(self, statement: exp.Expr) -> exp.Expr:
        """Calls of shadowed names made plain function calls, for DuckDB to run."""
        shadowed = LLM_NAMES - self.live()
        for call in list(statement.find_all(LlmFunc)):
            if call.function_name in shadowed:
                call.replace(exp.Anonymous(this=call.function_name, expressions=call.expressions))
        return statement
