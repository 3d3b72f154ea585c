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

import itertools
import os
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
import sqlglot.errors
from sqlglot import exp

import heliumsql.grammar  # noqa: F401 - registers the "helium" dialect
from heliumsql import statement_kinds
from heliumsql.backends import (ReplicatedBackend, StatementBudgeted, cluster_backend, is_remote,
                                pop_cluster_options, remote_backend)
from heliumsql.caller import call_from, caller_frame, register_tables
from heliumsql.embedding_model import EmbeddingModels
from heliumsql.engine.interface import EngineBackend, runs_on
from heliumsql.errors import CancelledError, PlanError
from heliumsql.executor import Executor
from heliumsql.explain import render_plan
from heliumsql.grammar.expressions import LlmFunc
from heliumsql.llm_views import LlmViews
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result
from heliumsql.result_cache import DEFAULT_RESULT_CACHE, open_result_cache
from heliumsql.settings import Setting, parse_setting
from heliumsql.shadowing import ShadowedNames
from heliumsql.statement_parser import bind_parameters, parse_llm_statement
from heliumsql.statements import Statement, find_llm_call, first_word, split_statements
from heliumsql.vector_search import VectorIndexes

# A text none of whose lower-cased characters contain these goes to DuckDB whole: it can call no
# LLM function (every name contains "llm") and sets no HeliumSQL setting.
_OURS = ("llm", "helium_")
# Words of every statement that can change which function a name resolves to (a macro or UDF
# made or dropped, a transaction rolled back, a database attached, the search path set, an
# extension loaded): seeing one drops the cached list of user functions that shadow LLM names.
_CATALOG_WORDS = ("create", "drop", "alter", "attach", "detach", "rollback", "abort", "set",
                  "reset", "use", "load", "install", "import", "pragma", "call", "execute")
_CATALOG_WORD = re.compile(rf"\b(?:{'|'.join(_CATALOG_WORDS)})\b")
_KEEPS_FUNCTIONS = {duckdb.StatementType.SELECT, duckdb.StatementType.INSERT,
                    duckdb.StatementType.UPDATE, duckdb.StatementType.DELETE,
                    duckdb.StatementType.MERGE_INTO, duckdb.StatementType.COPY,
                    duckdb.StatementType.EXPLAIN, duckdb.StatementType.EXPORT,
                    duckdb.StatementType.ANALYZE, duckdb.StatementType.VACUUM}
class Connection:
    """A HeliumSQL session. Use :func:`connect` to make one; also a context manager."""

    def __init__(self, database: str = ":memory:", model: Any = None, *, device: str = "auto",
                 dtype: Any = None, engine: EngineBackend | None = None, optimize: bool = True,
                 result_cache: Any = DEFAULT_RESULT_CACHE, embedding_model: Any = None,
                 **engine_options: Any) -> None:
        self.duckdb: duckdb.DuckDBPyConnection = duckdb.connect(os.fspath(database))
        self.embeddings = EmbeddingModels(embedding_model, model, device,  # llm_embed, llm_search
                                          llm_known=engine is None or model is not None)
        self.vector_indexes = VectorIndexes()
        self._model, self._device, self._dtype = model, device, dtype
        # Requests one statement may send to a remote model (None: no limit).
        self.max_requests: int | None = engine_options.pop("max_requests", None)
        self._cluster = pop_cluster_options(engine_options, model)  # {cluster, replicas} or None
        self._engine_options = engine_options
        self._engine = engine
        self.optimize = optimize
        self.result_cache = open_result_cache(result_cache)
        self.use_result_cache = True
        self.reorder_fields = False  # SET helium_reorder_fields: reorder => true by default
        # LLM function names a user function shadows; None: ask DuckDB's catalog again.
        self._names = ShadowedNames(self.duckdb)
        self._pending: Result | None = None  # what execute() left for fetchone() and friends
        self._pending_rows: Iterator[tuple[Any, ...]] = iter(())
        self.llm_views = LlmViews()  # views with LLM calls, expanded where read

    # -- the engine -------------------------------------------------------------------------
    @property
    def engine(self) -> EngineBackend:
        """The inference engine, loaded on first use (pure-DuckDB statements never load it)."""
        if self._engine is None and is_remote(self._model):
            self._engine = remote_backend(self._model, max_requests=self.max_requests,
                                          **self._engine_options)
        if self._engine is None:
            from heliumsql.engine import Engine
            from heliumsql.models import require_model

            model = require_model(self._model, "heliumsql.connect(model=...)")
            make = Engine if self._cluster is None else partial(cluster_backend, **self._cluster)
            self._engine = make(model, device=self._device, dtype=self._dtype,
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
        if isinstance(self._engine, StatementBudgeted):  # a new statement: a new budget
            self._engine.start_statement(self.max_requests)
        return Executor(self.duckdb, lambda: self.engine, self.optimize,
                        model_names=self._model_names(), result_cache=cache,
                        embeddings=self.embeddings, indexes=self.vector_indexes)

    # -- statements -------------------------------------------------------------------------
    def sql(self, query: str, params: object = None, *,
            progress: ProgressCallback | None = None) -> Result | None:
        """Run every ``;``-separated statement of ``query`` in order; the last one's result.

        A statement without an LLM call is DuckDB's, run as written (a text of only such
        statements is handed to ``duckdb.sql`` whole), and its result is DuckDB's relation;
        ``params`` bind the last statement's parameters, as in DuckDB. ``None`` when the text
        holds no statement. Variables of the caller are visible to replacement scans. (One
        difference in a text that mixes LLM statements with others: the last statement's result
        is returned even where DuckDB would keep the rows of an earlier query, as it does for a
        last statement that returns no rows.)

        >>> con.sql("SELECT llm('Hi {name}', max_tokens => 8) AS hi FROM people").fetchall()  # doctest: +SKIP
        >>> con.sql("SELECT * FROM people WHERE age > ?", params=[30]).filter("name LIKE 'A%'")  # doctest: +SKIP
        """
        caller = caller_frame()
        try:
            return self._run_text(query, params, progress, caller)
        except (KeyboardInterrupt, duckdb.InterruptException):
            raise CancelledError("query cancelled; the connection is still usable") from None
        except RuntimeError as exc:
            # DuckDB reports Ctrl-C during its own work as RuntimeError("Query interrupted").
            if type(exc) is RuntimeError and "interrupted" in str(exc).lower():
                raise CancelledError("query cancelled; the connection is still usable") from exc
            raise

    query = sql

    def execute(self, query: str, parameters: object = None) -> "Connection":
        """Run ``query`` like :meth:`sql` and keep its result for :meth:`fetchone`,
        :meth:`fetchmany`, :meth:`fetchall`, :meth:`df` and :attr:`description`; returns the
        connection, as DuckDB's ``execute`` does. Unlike DuckDB's, the kept result never blocks
        the next statement (a lazy query is read when first fetched).

        >>> con.execute("SELECT ?::INT + 1", [41]).fetchone()  # doctest: +SKIP
        (42,)
        """
        caller = caller_frame()
        self._pending, self._pending_rows = None, iter(())
        try:
            self._pending = self._run_text(query, parameters, None, caller)
            # Run now, as DuckDB's execute does (an error is raised here, not at the fetch).
            self._pending_rows = iter(self._pending.fetchall() if self._pending is not None else ())
        except (KeyboardInterrupt, duckdb.InterruptException):
            raise CancelledError("query cancelled; the connection is still usable") from None
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of :meth:`execute`'s result, ``None`` after the last."""
        return next(self._pending_rows, None)

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return list(itertools.islice(self._pending_rows, size))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._pending_rows)

    def df(self) -> Any:
        """:meth:`execute`'s whole result as a pandas DataFrame."""
        if self._pending is None:
            raise duckdb.InvalidInputException("No open result set")
        return self._pending.df()

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        return self._pending.description if self._pending is not None and self._pending.relation \
            is not None else None

    def explain(self, query: str, analyze: bool = False) -> str:
        """The plan of ``query`` as text; with ``analyze=True`` the query runs and the text
        carries per-operator figures."""
        statement = self._parse_for_explain(query)
        if statement is not None:
            statement = self.llm_views.expand(statement)
        if statement is None or statement.find(LlmFunc) is None:
            plan = render_plan(_pure_plan(statement or exp.Command(this=query)), self.optimize)
            if not analyze:
                return plan
            result = self.sql(query)
            rows = len(result.fetchall()) if result is not None else 0
            return plan + f"\n  Total  rows={rows}"
        return self._explain(statement, analyze)

    def _explain(self, statement: exp.Expr, analyze: bool) -> str:
        statement = statement_kinds.prepare(statement, self.reorder_fields)
        executor = self._executor()
        if analyze:
            _, plan, stats = self._planned(lambda: executor.run(statement))
            where = runs_on(self._engine)  # which device and path gave these figures
            return render_plan(plan, self.optimize, stats) + (f"\n  Engine  {where}" if where else "")
        return self._planned(lambda: executor.explain(statement))

    def _parse_for_explain(self, query: str) -> exp.Expr | None:
        """``query`` parsed by sqlglot; None for text only DuckDB reads (no LLM call in it)."""
        llm_at = find_llm_call(query, self._names.live()) if "llm" in query.lower() else None
        if llm_at is not None:
            return self._names.unshadow(parse_llm_statement(query, query, 0, llm_at))
        try:
            parsed = [s for s in sqlglot.parse(query, read="helium")
                      if s is not None and not isinstance(s, exp.Semicolon)]
        except Exception:  # noqa: BLE001 - whatever sqlglot cannot read, DuckDB's plan is shown
            return None
        return parsed[0] if len(parsed) == 1 else None

    # -- running a text ---------------------------------------------------------------------
    def _run_text(self, query: str, params: object, progress: ProgressCallback | None,
                  caller: FrameType | None) -> Result | None:
        if not isinstance(query, str):  # a duckdb.Statement, say: DuckDB's to run
            return self._duckdb(query, params, caller)
        lowered = query.lower()
        # Substrings first: a test that costs little on a megabyte of INSERT ... VALUES.
        if not any(word in lowered for word in _CATALOG_WORDS) or not _CATALOG_WORD.search(lowered):
            return self._run_statements(query, lowered, params, progress, caller)
        try:
            return self._run_statements(query, lowered, params, progress, caller)
        finally:
            self._names.forget()

    def _run_statements(self, query: str, lowered: str, params: object,
                        progress: ProgressCallback | None, caller: FrameType | None
                        ) -> Result | None:
        views = tuple(self.llm_views.views)
        if not any(word in lowered for word in _OURS + views):
            return self._duckdb(query, params, caller)
        statements = split_statements(query)
        result: Result | None = None
        run: list[Statement] = []  # consecutive statements for DuckDB, run as one script
        for index, statement in enumerate(statements):
            last = index == len(statements) - 1
            llm_at = None
            if "llm" in statement.text.lower():
                if run and any(s.type not in _KEEPS_FUNCTIONS for s in run):
                    # A statement of the run may create the function this one calls.
                    self._duckdb(query[run[0].offset:run[-1].end], None, caller, keep=False)
                    run = []
                    self._names.forget()
                llm_at = find_llm_call(statement.text, self._names.live())
            if llm_at is None and any(view in statement.text.lower() for view in views) \
                    and self.llm_views.named_in(statement.text):
                llm_at = 0  # reads, replaces or drops a view with LLM calls
            setting = self._setting(statement)
            if llm_at is None and setting is None:
                run.append(statement)
                continue
            if run:
                self._duckdb(query[run[0].offset:run[-1].end], None, caller, keep=False)
                run = []
            if setting is not None:
                if last and params is not None:
                    raise duckdb.InvalidInputException(
                        "Parameters were given, but the last statement of the query takes none")
                self._apply_setting(setting)
                result = None
            else:
                result = self._run_llm(statement, query, llm_at, params if last else None,
                                       progress, caller, last)
        if run:
            result = self._duckdb(query[run[0].offset:run[-1].end], params, caller)
        return result

    def _duckdb(self, text: str, params: object, caller: FrameType | None, *,
                keep: bool = True) -> Result | None:
        """DuckDB runs ``text`` as written; with ``keep=False`` every statement runs now (not
        lazily) and the result is dropped, as for statements before the last."""
        if keep:
            relation = call_from(caller, self.duckdb.sql, text, params=params)
            return None if relation is None else Result.from_relation(relation)
        call_from(caller, self.duckdb.execute, text).fetchall()
        return None

    def _run_llm(self, statement: Statement, full: str, llm_at: int, params: object,
                 progress: ProgressCallback | None, caller: FrameType | None,
                 last: bool) -> Result | None:
        word, after = first_word(statement.text)
        if word == "EXPLAIN":
            inner = statement.text[after:]
            analyze, rest = first_word(inner)
            inner = inner[rest:] if analyze == "ANALYZE" else inner
            skipped = len(statement.text) - len(inner)
            parsed = self._names.unshadow(parse_llm_statement(inner, full, statement.offset + skipped,
                                                        max(llm_at - skipped, 0)))
            parsed = self.llm_views.expand(parsed)
            if parsed.find(LlmFunc) is not None:
                text = self._explain(bind_parameters(parsed, params), analyze == "ANALYZE")
                return Result.from_arrow(pa.table({"plan": [text]}), con=self.duckdb)
        parsed = self._names.unshadow(parse_llm_statement(statement.text, full, statement.offset, llm_at))
        parsed = self.llm_views.expand(parsed)
        if self.llm_views.apply(parsed, self.duckdb):  # CREATE or DROP of a view with LLM calls
            return None
        if parsed.find(LlmFunc) is None:  # a quoted name, or a shadowed one: DuckDB's
            return self._duckdb(statement.text, params, caller, keep=last)
        registered = register_tables(self.duckdb, parsed, caller)
        try:
            result = self._planned(lambda: statement_kinds.run(
                bind_parameters(parsed, params), self._executor(), progress, self.reorder_fields))
        finally:
            for name in registered:
                self.duckdb.unregister(name)
        return result.attached(self.duckdb)

    def _planned(self, run: Callable[[], Any]) -> Any:
        """``run()``, with a failure of sqlglot inside planning reported as a HeliumSQL error."""
        try:
            return run()
        except (RecursionError, sqlglot.errors.SqlglotError) as exc:
            raise PlanError(f"HeliumSQL could not plan this statement ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); simplify "
                            "the expressions around its LLM calls") from None

    # -- HeliumSQL's own settings ---------------------------------------------------------------
    def _setting(self, statement: Statement) -> Setting | None:
        if "helium_" not in statement.text.lower() or first_word(statement.text)[0] != "SET":
            return None
        return parse_setting(statement.text)

    def _apply_setting(self, setting: Setting) -> None:
        setattr(self, setting.attribute, setting.value)

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the DuckDB connection (the engine is dropped with the connection)."""
        self.duckdb.close()
        if self._cluster is not None and isinstance(self._engine, ReplicatedBackend):
            self._engine.close()  # the replicas it started hold CPUs/GPUs until stopped
        self._engine = None
        if self.result_cache is not None:
            self.result_cache.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pure_plan(statement: exp.Expr):  # noqa: ANN202
    from heliumsql.plan.nodes import LogicalPlan

    return LogicalPlan((), statement, ())


def connect(database: str | os.PathLike = ":memory:", model: Any = None, *, device: str = "auto",
            dtype: Any = None, engine: EngineBackend | None = None, optimize: bool = True,
            result_cache: Any = DEFAULT_RESULT_CACHE,
            embedding_model: str | os.PathLike | None = None,
            **engine_options: Any) -> Connection:
    """Open a HeliumSQL connection.

    ``database`` is a DuckDB file or ``":memory:"``. ``model`` is a local Hugging Face checkpoint
    directory, a model id already in the local cache, or a loaded ``(model, tokenizer)`` pair;
    ``None`` uses the built-in model when installed; ``"openai:NAME"`` a model of an
    OpenAI-compatible server (``base_url=``, ``api_key=``, ``max_concurrency=``, ``timeout=``,
    ``max_retries=``; ``max_requests=N``, or ``SET helium_max_requests = N``, refuses a statement
    that would send more than N requests: see :mod:`heliumsql.backends.budget`). ``cluster="ray"``
    (or ``"ray://host:port"``) and ``replicas=N`` run N engine replicas on Ray. ``engine`` passes
    an already built engine instead (shared between connections). The model loads on the
    first LLM call, on ``device`` (``"auto"``: CUDA with bfloat16 when torch sees a GPU, else CPU
    with float32; ``dtype`` overrides the dtype). ``optimize=False`` (or ``SET helium_optimizer =
    false``) skips the optimizer rules and the workflow scheduling (the "vLLM-style" baseline).
    ``result_cache`` keeps answers across queries and processes: a DuckDB file path,
    ``":memory:"`` (this connection only), a :class:`~heliumsql.result_cache.ResultCache`, or
    ``None`` (off); by default ``$HELIUMSQL_RESULT_CACHE`` or ``~/.cache/heliumsql/results.duckdb``
    (``SET helium_result_cache = false`` turns it off for the session). ``embedding_model``: a
    sentence-transformers checkpoint for ``llm_embed`` (the ``embed`` extra; default: ``model``
    mean-pooled, weak). Other keyword arguments go to the engine.

    >>> con = connect(model="path/to/checkpoint")                          # doctest: +SKIP
    >>> con.sql("SELECT llm('Hello') AS answer").fetchall()                # doctest: +SKIP
    """
    return Connection(database, model, device=device, dtype=dtype, engine=engine, optimize=optimize,
                      result_cache=result_cache, embedding_model=embedding_model, **engine_options)
