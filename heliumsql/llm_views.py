"""Views whose query has LLM calls: kept by the connection as their query, expanded where read.

DuckDB cannot store such a view: its LLM calls become per-query functions that are gone once the
CREATE VIEW statement ends, so every read would fail. Instead ``CREATE [OR REPLACE] VIEW v AS
<query with LLM calls>`` checks the query (it must plan) and keeps it; a statement that reads
``v`` reads ``(<query>) AS v`` in its place, so the view's calls are planned with the statement
(and deduplicated, cached and scheduled with its other calls), as DuckDB would bind a view.
``DROP VIEW v`` forgets it. Such a view lives as long as the connection: it is not written to
the database file.

>>> views = LlmViews()                                                    # doctest: +SKIP
>>> views.define(parse("CREATE VIEW v AS SELECT llm('Hi {name}') AS hi FROM people"), con)  # doctest: +SKIP
>>> views.expand(parse("SELECT * FROM v")).sql()                          # doctest: +SKIP
"SELECT * FROM (SELECT llm('Hi {name}') AS hi FROM people) AS v"
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import sqlglot
from sqlglot import exp

from heliumsql.binder import Catalog
from heliumsql.errors import PlanError
from heliumsql.grammar.expressions import LlmFunc
from heliumsql.planner import build_plan


@dataclass
class LlmViews:
    """The connection's views with LLM calls: name (lower case) -> (column names, query)."""

    views: dict[str, tuple[tuple[str, ...], exp.Query]] = field(default_factory=dict)

    def apply(self, statement: exp.Expr, con: duckdb.DuckDBPyConnection) -> bool:
        """Handle ``statement`` if it creates or drops a view with LLM calls (True), or refuse
        one that would hide such a view; False for any other statement."""
        if isinstance(statement, exp.Drop) and str(statement.args.get("kind")).upper() == "VIEW":
            names = [t.name.lower() for t in statement.args.get("tables") or [statement.this] if t]
            ours = [n for n in names if n in self.views]
            if ours and len(ours) < len(names):
                raise PlanError(f"DROP VIEW: {ours[0]} is a view with LLM calls and others are not; "
                                "drop them in separate statements")
            for name in ours:
                del self.views[name]
            return bool(ours)
        if not isinstance(statement, exp.Create):
            return False
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        name = target.name.lower()
        is_view = str(statement.args.get("kind")).upper() == "VIEW"
        if name in self.views and not (is_view and (statement.args.get("replace") or
                                                    statement.args.get("exists"))):
            raise PlanError(f"{target.name} is already a view with LLM calls; DROP VIEW "
                            f"{target.name} first, or CREATE OR REPLACE VIEW {target.name}")
        if is_view and name in self.views and statement.args.get("exists"):
            return True  # CREATE VIEW IF NOT EXISTS: it does
        if not is_view or not isinstance(statement.expression, exp.Query) or \
                statement.expression.find(LlmFunc) is None:
            self.views.pop(name, None)  # OR REPLACE by a view DuckDB keeps itself
            return False
        self.define(statement, con)
        return True

    def define(self, statement: exp.Create, con: duckdb.DuckDBPyConnection) -> None:
        """Keep the view of ``CREATE [OR REPLACE] VIEW`` after checking that its query plans.
        The query is kept with the views it reads already expanded (so none can form a cycle)."""
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        name = target.name
        columns = tuple(c.name for c in statement.this.expressions) \
            if isinstance(statement.this, exp.Schema) else ()
        tables, views = con.execute(
            "SELECT (SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower($1)), "
            "(SELECT count(*) FROM duckdb_views() WHERE lower(view_name) = lower($1) AND NOT internal)",
            [name]).fetchall()[0]  # fetchall: DuckDB refuses other work while a result is unread
        if tables or (views and not statement.args.get("replace")):
            raise PlanError(f"CREATE VIEW {name}: a table or view named {name} already exists")
        query = self.expand(statement.expression)
        build_plan(query, Catalog(con))  # binds every call: errors now, not on read
        if views:
            con.sql(f"DROP VIEW {target.sql('duckdb')}")
        self.views[name.lower()] = (columns, query.copy())

    def named_in(self, text: str) -> bool:
        """Whether ``text`` names one of these views (as a table it reads, makes or drops)."""
        try:
            parsed = sqlglot.parse_one(text, read="helium")
        except Exception:  # noqa: BLE001 - what sqlglot cannot read is DuckDB's to run
            return False
        return any(t.name.lower() in self.views for t in parsed.find_all(exp.Table))

    def expand(self, statement: exp.Expr) -> exp.Expr:
        """``statement`` with every read of a view with LLM calls replaced by its query (a
        table name a CTE of the statement defines is the CTE, not the view)."""
        if not self.views:
            return statement
        tree = statement.copy()
        ctes = {c.alias.lower() for c in tree.find_all(exp.CTE)}
        reads = [t for t in tree.find_all(exp.Table)
                 if not t.args.get("db") and t.name.lower() in self.views and t.name.lower() not in ctes
                 and not isinstance(t.parent, (exp.Create, exp.Drop, exp.Schema))]
        if not reads:
            return statement
        for table in reads:
            columns, query = self.views[table.name.lower()]
            alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name),
                                   columns=[exp.to_identifier(c) for c in columns] or None)
            read: exp.Expr = exp.Subquery(this=query.copy(), alias=alias)
            if isinstance(table.parent, (exp.Describe, exp.Summarize)):
                read = exp.select("*").from_(read)
            table.replace(read)
        return tree
