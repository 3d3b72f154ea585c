"""Binding: resolve template placeholders and context columns against DuckDB's catalog, and
render a call's prompt as a pure SQL expression.

DuckDB itself answers "which columns does this FROM clause provide" (by binding a query, which
runs nothing), so the binder never re-implements name resolution rules.

>>> scope = Scope({"r": ("id", "review")})
>>> scope.has("review"), scope.has("r.id"), scope.has("nope")
(True, True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp

from heliumsql.errors import BindError, PlanError
from heliumsql.grammar.functions import CallArguments
from heliumsql.grammar.templates import Placeholder, Static
from heliumsql.plan.stand_ins import StandIns

NEWLINE = exp.func("CHR", exp.Literal.number(10))


@dataclass(frozen=True)
class Scope:
    """The columns visible in one SELECT: source alias -> its column names."""

    sources: dict[str, tuple[str, ...]]

    def has(self, name: str) -> bool:
        table, _, column = name.rpartition(".")
        column = column.lower()
        if table:
            cols = self.sources.get(table.lower())
            return cols is not None and column in (c.lower() for c in cols)
        return any(column in (c.lower() for c in cols) for cols in self.sources.values())

    def describe(self) -> str:
        names = [f"{alias}.{c}" if len(self.sources) > 1 else c
                 for alias, cols in self.sources.items() for c in cols]
        return ", ".join(names) if names else "(none: the query has no FROM clause)"


class Catalog:
    """Asks a DuckDB connection what columns a query yields, without running it. References
    to the plan's per-query objects bind through ``stand_ins`` (the planner adds one per node)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stand_ins: StandIns = StandIns(), *,
                 embedding_dimension: Callable[[str | None], int] | None = None) -> None:
        self.con, self.stand_ins = con, stand_ins
        self._embedding_dimension = embedding_dimension

    def embedding_dimension(self, model: str | None) -> int:
        """The vector size of embedding model ``model`` (None: the connection's default): the
        SQL type of ``llm_embed`` is ``FLOAT[d]``, so planning must know d."""
        if self._embedding_dimension is None:
            raise PlanError("llm_embed() and llm_search() need a HeliumSQL connection's embedding "
                            "model; run them through heliumsql.connect(...)")
        return self._embedding_dimension(model)

    def sql(self, query: exp.Expr) -> str:
        """``query`` as DuckDB SQL that binds before the query's own objects exist."""
        return self.stand_ins.sql(query)

    def columns(self, query: exp.Expr) -> tuple[str, ...] | None:
        """The output column names of ``query``, or None if DuckDB cannot bind it."""
        return self.columns_of_sql(self.sql(query))

    def columns_of_sql(self, sql: str) -> tuple[str, ...] | None:
        """Like :meth:`columns`, for SQL text."""
        try:
            return tuple(self.con.sql(sql).columns)
        except duckdb.Error:
            return None

    def columns_or_raise(self, query: exp.Expr, what: str) -> tuple[str, ...]:
        try:
            return tuple(self.con.sql(self.sql(query)).columns)
        except duckdb.Error as exc:
            raise BindError(f"{what}: {exc}") from exc

    def scope(self, select: exp.Select, with_: exp.With | None) -> Scope | None:
        """Columns of every source in ``select``'s FROM and JOINs; None if they cannot be bound
        on their own (e.g. a correlated subquery)."""
        from_ = select.args.get("from_")
        if from_ is None:
            return Scope({})
        sources = [from_.this] + [j.this for j in select.args.get("joins") or []]
        result: dict[str, tuple[str, ...]] = {}
        for source in sources:
            alias = source.alias_or_name
            if not alias:
                continue
            probe = exp.Select(expressions=[exp.Star()]).from_(from_.copy(), copy=False)
            probe.set("expressions", [exp.Column(this=exp.Star(), table=exp.to_identifier(alias))])
            probe.set("joins", [j.copy() for j in select.args.get("joins") or []] or None)
            # Borrowed, not copied (CTE chains make copies costly); the caller keeps it.
            probe.set("with_", with_)
            cols = self.columns(probe)
            probe.set("with_", None)
            if cols is None:
                return None
            result[alias.lower()] = cols
        return Scope(result)


def placeholder_column(p: Placeholder, qualify: bool = True) -> exp.Column:
    return exp.column(p.column, table=p.table if qualify else None)


def text_of(value: exp.Expr) -> exp.Expr:
    """``value`` as prompt text: VARCHAR, NULL as the empty string."""
    return exp.func("COALESCE", exp.cast(value, "VARCHAR"), exp.Literal.string(""))


def _static(text: str) -> list[exp.Expr]:
    # Newlines become CHR(10) so the SQL (and EXPLAIN) stays on one line.
    parts: list[exp.Expr] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            parts.append(NEWLINE.copy())
        if line:
            parts.append(exp.Literal.string(line))
    return parts


def _aggregate(value: exp.Expr, order: list[exp.Expr]) -> exp.Expr:
    sql = (f"STRING_AGG({text_of(value).sql('duckdb')}, CHR(10) ORDER BY "
           f"{', '.join(o.sql('duckdb') for o in order)})")
    return sqlglot.parse_one(sql, read="duckdb")


def render_prompt(args: CallArguments, aggregate: bool = False, qualify: bool = True) -> exp.Expr:
    """The prompt as SQL: ``CONCAT('static', COALESCE(CAST(col AS VARCHAR), ''), ...)`` plus
    ``name: value`` lines for context columns. For an aggregate, each value is the group's
    values joined by newlines, ordered by every referenced column so the text is deterministic.

    >>> import sqlglot, heliumsql.grammar
    >>> from heliumsql.grammar.functions import bind_arguments
    >>> call = sqlglot.parse_one("SELECT llm('Hi {name}!')", read="helium").expressions[0]
    >>> render_prompt(bind_arguments(call)).sql("duckdb")
    "CONCAT('Hi ', COALESCE(CAST(name AS TEXT), ''), '!')"
    """
    template = args.template
    values: list[exp.Expr]
    if template is not None:
        values = [placeholder_column(s, qualify) for s in template.segments if isinstance(s, Placeholder)]
    else:
        values = [args.prompt]
    values += [v for _, v in args.context]
    order = [v.copy() for v in values] or [exp.Literal.number(1)]

    def value(v: exp.Expr) -> exp.Expr:
        return _aggregate(v.copy(), order) if aggregate else text_of(v.copy())

    parts: list[exp.Expr] = []
    if template is not None:
        for segment in template.segments:
            if isinstance(segment, Static):
                parts += _static(segment.text)
            else:
                parts.append(value(placeholder_column(segment, qualify)))
    elif aggregate:
        parts.append(_aggregate(args.prompt.copy(), order))
    else:
        # A non-literal prompt keeps its NULL: a NULL prompt gives a NULL answer, not a call.
        if not args.context:
            return exp.cast(args.prompt.copy(), "VARCHAR")
        parts.append(text_of(args.prompt))
    for name, v in args.context:
        parts += [NEWLINE.copy(), exp.Literal.string(f"{name}: "), value(v)]
    if not parts:
        return exp.Literal.string("")
    if len(parts) == 1 and isinstance(parts[0], exp.Literal):
        return parts[0]
    return exp.Concat(expressions=parts, safe=True, coalesce=True)


def unknown_column_error(name: str, function: str, scope: Scope, in_template: bool) -> BindError:
    where = f"{{{name}}} in the {function}() template" if in_template else f"column {name} in {function}()"
    return BindError(f"{where} does not name a column in scope; columns in scope: {scope.describe()}")


def referenced_names(args: CallArguments) -> list[tuple[str, bool]]:
    """The column names a call reads, each with whether it is a template placeholder (else a
    column of a context expression)."""
    names = [(p.name, True) for p in (args.template.placeholders if args.template else ())]
    names += [(c.sql("duckdb"), False) for _, v in args.context for c in v.find_all(exp.Column)
              if not isinstance(c.this, exp.Star)]
    return names


def check_names(args: CallArguments, scope: Scope, qualify: bool = True) -> None:
    """BindError for the first column the call reads that ``scope`` does not have; without
    ``qualify`` a placeholder's table part is ignored (as :func:`render_prompt` ignores it)."""
    for name, in_template in referenced_names(args):
        if not scope.has(name if qualify or not in_template else name.rpartition(".")[2]):
            raise unknown_column_error(name, args.function.name, scope, in_template)
