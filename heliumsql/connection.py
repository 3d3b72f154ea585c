"""The session: a DuckDB connection plus a lazily loaded engine, running HeliumSQL statements.

Statements without LLM calls go to DuckDB unchanged (its errors pass through as they are);
statements with LLM calls are planned and run by :class:`heliumsql.executor.Executor`.
Ctrl-C during a query raises :class:`heliumsql.CancelledError` (a ``HeliumError``, not a
``KeyboardInterrupt``); the connection and its engine stay usable.

>>> import heliumsql                                                       # doctest: +SKIP
>>> con = heliumsql.connect(model="path/to/checkpoint")                    # doctest: +SKIP
>>> con.sql("SELECT llm('Say hi to {name}') AS hi FROM people").df()       # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import sqlglot.errors
from sqlglot import exp
from sqlglot.tokens import TokenType

import heliumsql.grammar  # noqa: F401 - registers the "helium" dialect
from heliumsql import statement_kinds
from heliumsql.engine.interface import EngineBackend
from heliumsql.errors import CancelledError, ModelLoadError, ParseError
from heliumsql.executor import Executor
from heliumsql.explain import render_plan
from heliumsql.grammar.dialect import Helium
from heliumsql.grammar.expressions import LlmFunc
from heliumsql.llm_views import LlmViews
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result
from heliumsql.result_cache import ResultCache, default_path

_MENTIONS_LLM = re.compile(r"\bllm(?:_filter|_agg|_map)?\s*\(", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:(ANALYZE)\s+)?(.*)$", re.IGNORECASE | re.DOTALL)
_SETTINGS = {"helium_optimizer", "helium_result_cache", "helium_reorder_fields"}
# ``connect(result_cache=...)`` default: the user's cache directory (see result_cache.default_path).
DEFAULT_RESULT_CACHE = "default"
_NO_RESULT = (exp.Create, exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Alter, exp.Set,
              exp.Use, exp.Merge, exp.Copy, exp.TruncateTable, exp.Transaction, exp.Commit,
              exp.Rollback)


def _builtin_model() -> Any:
    try:
        from heliumsql.models import builtin_model_path  # written by another part; may be absent
    except ImportError:
        return None
    return builtin_model_path()


def _split_statements(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each statement, split on the tokenizer's semicolons (so a ';' inside
    a string or comment does not split)."""
    try:
        tokens = Helium().tokenize(text)
    except sqlglot.errors.TokenError:
        return [(0, text)]
    pieces, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            pieces.append((start, text[start:token.start]))
            start = token.end + 1
    pieces.append((start, text[start:]))
    return [(offset, piece) for offset, piece in pieces if piece.strip()]


def _parse_error(error: sqlglot.errors.ParseError, full: str, offset: int) -> ParseError:
    """Our ParseError with line and column in the whole submitted text and a caret excerpt."""
    info = error.errors[0] if error.errors else {}
    description = info.get("description") or str(error).splitlines()[0]
    line, col = info.get("line"), info.get("col")
    if line is None or col is None:
        return ParseError(f"syntax error: {description}")
    highlight = info.get("highlight") or ""
    before = full[:offset]
    line += before.count("\n")
    if line == before.count("\n") + 1:
        col += offset - (before.rfind("\n") + 1)
    start = max(col - len(highlight) + 1, 1)  # sqlglot's col is where the highlight ends
    lines = full.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    excerpt = f"  {source}\n  {' ' * (start - 1)}{'^' * max(len(highlight), 1)}"
    return ParseError(f"syntax error: {description}", line, start, excerpt)


class Connection:
    """A HeliumSQL session. Use :func:`connect` to make one; also a context manager."""

    def __init__(self, database: str = ":memory:", model: Any = None, *, device: str = "cpu",
                 dtype: Any = None, engine: EngineBackend | None = None, optimize: bool = True,
                 result_cache: Any = DEFAULT_RESULT_CACHE, **engine_options: Any) -> None:
        self.duckdb: duckdb.DuckDBPyConnection = duckdb.connect(os.fspath(database))
        self._model, self._device, self._dtype = model, device, dtype
        self._engine_options = engine_options
        self._engine = engine
        self.optimize = optimize
        self.result_cache = _result_cache(result_cache)
        self.use_result_cache = True
        self.reorder_fields = False  # SET helium_reorder_fields: reorder => true by default
        self.llm_views = LlmViews()

    # -- the engine -------------------------------------------------------------------------
    @property
    def engine(self) -> EngineBackend:
        """The inference engine, loaded on first use (pure-DuckDB statements never load it)."""
        if self._engine is None:
            model = self._model if self._model is not None else _builtin_model()
            if model is None:
                raise ModelLoadError(
                    "no model to answer LLM calls: pass one to heliumsql.connect(model=...), as a "
                    "local Hugging Face checkpoint directory, a model id already in the local "
                    "Hugging Face cache, or a loaded (model, tokenizer) pair")
            from heliumsql.engine import Engine

            self._engine = Engine(model, device=self._device, dtype=self._dtype,
                                  **self._engine_options)
        return self._engine

    @property
    def engine_loaded(self) -> bool:
        """Whether the engine is already loaded (reading ``engine`` would load it)."""
        return self._engine is not None

    def _model_names(self) -> frozenset[str]:
        if self._model is None or isinstance(self._model, tuple):
            return frozenset()
        name = os.fspath(self._model)
        return frozenset({name, Path(name).name, str(Path(name).expanduser())})

    def _executor(self) -> Executor:
        cache = self.result_cache if self.use_result_cache else None
        return Executor(self.duckdb, lambda: self.engine, self.optimize,
                        model_names=self._model_names(), result_cache=cache)

    # -- statements -------------------------------------------------------------------------
    def sql(self, query: str, *, progress: ProgressCallback | None = None) -> Result:
        """Run one or more ``;``-separated statements; returns the last one's result.

        >>> con.sql("SELECT llm('Hi {name}', max_tokens => 8) AS hi FROM people").fetchall()  # doctest: +SKIP
        """
        result = Result.empty()
        try:
            for offset, text in _split_statements(query):
                result = self._run(text, query, offset, progress)
        except (KeyboardInterrupt, duckdb.InterruptException):
            raise CancelledError("query cancelled; the connection is still usable") from None
        except RuntimeError as exc:
            # DuckDB reports Ctrl-C during its own work as RuntimeError("Query interrupted").
            if type(exc) is RuntimeError and "interrupted" in str(exc).lower():
                raise CancelledError("query cancelled; the connection is still usable") from exc
            raise
        return result

    def explain(self, query: str, analyze: bool = False) -> str:
        """The plan of ``query`` as text; with ``analyze=True`` the query runs and the text
        carries per-operator figures."""
        statement = self._parse(query, query, 0)
        if statement is None:
            statement = exp.Command(this=query)
        else:
            statement = self.llm_views.expand(statement)
        if statement.find(LlmFunc) is not None:
            statement = statement_kinds.prepare(statement, self.reorder_fields)
        executor = self._executor()
        if analyze:
            if statement.find(LlmFunc) is None:
                result = self.sql(query)
                return render_plan(_pure_plan(statement), self.optimize) + \
                    f"\n  Total  rows={result.arrow().num_rows}"
            _, plan, stats = executor.run(statement)
            return render_plan(plan, self.optimize, stats)
        if statement.find(LlmFunc) is None:
            return render_plan(_pure_plan(statement), self.optimize)
        return executor.explain(statement)

    def _parse(self, text: str, full: str, offset: int) -> exp.Expr | None:
        """Parse one statement; None if sqlglot cannot but DuckDB may (no LLM call in it)."""
        try:
            statements = sqlglot.parse(text, read="helium")
        except sqlglot.errors.ParseError as error:
            if _MENTIONS_LLM.search(text):
                raise _parse_error(error, full, offset) from None
            return None
        except sqlglot.errors.SqlglotError:
            return None
        except RecursionError:
            raise ParseError("the statement nests too deeply to parse (e.g. dozens of llm() calls "
                             "inside each other); compute inner calls in CTEs and refer to their "
                             "columns") from None
        statements = [s for s in statements if s is not None]
        return statements[0] if len(statements) == 1 else None

    def _run(self, text: str, full: str, offset: int, progress: ProgressCallback | None) -> Result:
        explain = _EXPLAIN.match(text)
        if explain:
            plan_text = self.explain(explain[2], analyze=bool(explain[1]))
            import pyarrow as pa

            return Result.from_arrow(pa.table({"plan": [plan_text]}))
        statement = self._parse(text, full, offset)
        if isinstance(statement, exp.Set) and self._apply_setting(statement):
            return Result.empty()
        if statement is not None:  # views with LLM calls: see llm_views
            statement = self.llm_views.expand(statement)
            if self.llm_views.apply(statement, self.duckdb):
                return Result.empty()
        if statement is None or statement.find(LlmFunc) is None:
            relation = self.duckdb.sql(text)
            if relation is None or isinstance(statement, _NO_RESULT):
                return Result.empty()
            return Result.from_relation(relation)
        return statement_kinds.run(statement, self._executor(), progress, self.reorder_fields)

    def _apply_setting(self, statement: exp.Set) -> bool:
        item = statement.expressions[0] if len(statement.expressions) == 1 else None
        eq = item.this if isinstance(item, exp.SetItem) else None
        if not isinstance(eq, exp.EQ) or eq.this.name.lower() not in _SETTINGS:
            return False
        value = eq.expression
        truthy = value.this if isinstance(value, exp.Boolean) else str(value.name).lower() in ("true", "on", "1")
        if eq.this.name.lower() == "helium_result_cache":
            self.use_result_cache = bool(truthy)
        elif eq.this.name.lower() == "helium_reorder_fields":
            self.reorder_fields = bool(truthy)
        else:
            self.optimize = bool(truthy)
        return True

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the DuckDB connection (the engine is dropped with the connection)."""
        self.duckdb.close()
        self._engine = None
        if self.result_cache is not None:
            self.result_cache.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _result_cache(spec: Any) -> ResultCache | None:
    if spec == DEFAULT_RESULT_CACHE:
        spec = default_path()
    if spec is None or isinstance(spec, ResultCache):
        return spec
    return ResultCache(spec)


def _pure_plan(statement: exp.Expr):  # noqa: ANN202
    from heliumsql.plan.nodes import LogicalPlan

    return LogicalPlan((), statement, ())


def connect(database: str | os.PathLike = ":memory:", model: Any = None, *, device: str = "cpu",
            dtype: Any = None, engine: EngineBackend | None = None, optimize: bool = True,
            result_cache: Any = DEFAULT_RESULT_CACHE, **engine_options: Any) -> Connection:
    """Open a HeliumSQL connection.

    ``database`` is a DuckDB file or ``":memory:"``. ``model`` is a local Hugging Face
    checkpoint directory, a model id already in the local cache, or a loaded
    ``(model, tokenizer)`` pair; ``None`` uses the built-in model when installed. ``engine``
    passes an already built engine instead (shared between connections). The model loads on
    the first LLM call. ``optimize=False`` (or ``SET helium_optimizer = false``) skips the
    optimizer rules and the workflow scheduling (the "vLLM-style" baseline).
    ``result_cache`` keeps answers across queries and processes: a DuckDB file path,
    ``":memory:"`` (this connection only), a :class:`~heliumsql.result_cache.ResultCache`, or
    ``None`` (off); by default ``$HELIUMSQL_RESULT_CACHE`` or
    ``~/.cache/heliumsql/results.duckdb``. ``SET helium_result_cache = false`` turns it off for
    the session. Other keyword arguments go to the engine.

    >>> con = connect(model="path/to/checkpoint")                          # doctest: +SKIP
    >>> con.sql("SELECT llm('Hello') AS answer").fetchall()                # doctest: +SKIP
    """
    return Connection(database, model, device=device, dtype=dtype, engine=engine,
                      optimize=optimize, result_cache=result_cache, **engine_options)
