"""Jupyter magics: ``%load_ext heliumsql``, then ``%hsql SQL`` and ``%%hsql [options]``.

>>> %load_ext heliumsql                                                   # doctest: +SKIP
>>> %hsql SELECT 42 AS answer                                             # doctest: +SKIP
>>> %%hsql -o labels                                                      # doctest: +SKIP
... SELECT id, llm('Sentiment of: {review}', max_tokens => 4) AS label FROM reviews_df

Options (before the SQL on a ``%hsql`` line, on the first line of ``%%hsql``):
``-o NAME`` / ``--output NAME`` assigns the result DataFrame to ``NAME``; ``--connection VAR``
runs on the connection in variable ``VAR`` (and makes it the default for later cells);
``--explain`` shows the plan instead of running the query; ``--model M`` (with, for a remote
model ``openai:NAME``, ``--base-url URL`` and ``--api-key KEY``) opens a new connection on that
model, the default for later cells. Otherwise a connection is created on first use with
``$HELIUMSQL_MODEL`` (or the built-in model; ``openai:NAME`` reads ``$OPENAI_BASE_URL`` and
``$OPENAI_API_KEY``), on ``device="auto"`` (CUDA with bfloat16 when present, else CPU with
float32). ``--cluster ray`` (or ``ray://HOST:PORT``) ``--replicas N`` opens it with N engine
replicas on Ray, as ``heliumsql.connect`` does; a later cell with the same options keeps it.

>>> %%hsql --model openai:llama-3.1-8b --base-url http://gpu-box:8000/v1   # doctest: +SKIP
... SELECT llm('Say hi') AS a

Python values: ``{name}`` outside quotes is replaced by ``str(name)`` (``LIMIT {n}``,
``FROM {table_name}``); inside quotes braces are template placeholders (``'Review: {review}'``
names a column) and are never touched. A pandas DataFrame or Arrow table in the notebook whose
variable name appears in the query can be queried like a table.
"""

from __future__ import annotations

import html
import os
import re
import sys
import time
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import HTML, display

from heliumsql.errors import HeliumError
from heliumsql.progress import Progress

_OPTION = re.compile(r"\s*(?:(-o|--output|--connection)\s+([A-Za-z_]\w*)"
                     r"|(--model|--base-url|--api-key|--cluster|--replicas)\s+(\S+)"
                     r"|(--explain))(?=\s|$)")
# Options that open a new connection, as connect() names them.
_CONNECT_OPTIONS = {"--model": "model", "--base-url": "base_url", "--api-key": "api_key",
                    "--cluster": "cluster", "--replicas": "replicas"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$", re.S)
_NAME = re.compile(r"[A-Za-z_]\w*")


def parse_options(line: str) -> tuple[dict[str, Any], str]:
    """Split leading options off a magic line; returns (options, rest of the line).

    >>> parse_options("-o out --explain SELECT 1")
    ({'output': 'out', 'connection': None, 'explain': True}, 'SELECT 1')
    >>> parse_options("--model openai:m --base-url http://h:8000/v1 SELECT 1")[0]["connect"]
    {'model': 'openai:m', 'base_url': 'http://h:8000/v1'}
    >>> parse_options("--cluster ray --replicas 4 SELECT 1")[0]["connect"]
    {'cluster': 'ray', 'replicas': 4}
    """
    options: dict[str, Any] = {"output": None, "connection": None, "explain": False}
    while True:
        match = _OPTION.match(line)
        if not match:
            return options, line.strip()
        flag, value, connect_flag, connect_value, explain = match.groups()
        if explain:
            options["explain"] = True
        elif connect_flag == "--replicas":
            if not connect_value.isdigit():
                raise ValueError(f"%hsql: --replicas takes a number, not {connect_value!r}")
            options.setdefault("connect", {})["replicas"] = int(connect_value)
        elif connect_flag:
            options.setdefault("connect", {})[_CONNECT_OPTIONS[connect_flag]] = connect_value
        else:
            options["output" if flag in ("-o", "--output") else "connection"] = value
        line = line[match.end():]


def interpolate(sql: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` outside string literals by ``str(namespace[name])``.

    >>> interpolate("SELECT llm('Hi {name}') FROM t LIMIT {n}", {"n": 3, "name": "x"})
    "SELECT llm('Hi {name}') FROM t LIMIT 3"
    """
    def outside(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(namespace[name]) if name in namespace else match.group(0)

        return _PLACEHOLDER.sub(value, text)

    out, last = [], 0
    for literal in _STRING.finditer(sql):
        out += [outside(sql[last:literal.start()]), literal.group(0)]
        last = literal.end()
    out.append(outside(sql[last:]))
    return "".join(out)


def frames_in(sql: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """DataFrames and Arrow tables of the namespace whose names appear in the query as names."""
    found = {}
    for name in set(_NAME.findall(_STRING.sub("''", sql))):
        obj = namespace.get(name)
        if obj is not None and _is_frame(obj):
            found[name] = obj
    return found


def _is_frame(obj: Any) -> bool:
    import pyarrow as pa

    if isinstance(obj, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
        return True
    pandas = sys.modules.get("pandas")  # a notebook that never imported pandas has no DataFrame
    return pandas is not None and isinstance(obj, pandas.DataFrame)


class Plan(str):
    """Plan text that a notebook shows preformatted."""

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self)}</pre>"

    def __repr__(self) -> str:
        return str(self)


class NotebookProgress:
    """A ``progress=`` callback that draws one HTML line per LLM operator, updated in place.

    Plain HTML through ``display(..., display_id=True)``, so it works in Jupyter, JupyterLab
    and VS Code without ipywidgets; nothing is drawn for statements without LLM work.
    """

    def __init__(self, min_interval_s: float = 0.2) -> None:
        self._reports: dict[str, Progress] = {}
        self._handle: Any = None
        self._last = 0.0
        self.min_interval_s = min_interval_s

    def __call__(self, report: Progress) -> None:
        self._reports[report.operator] = report
        now = time.monotonic()
        finished = report.rows_total is not None and report.rows_done >= report.rows_total
        if self._handle is None:
            self._handle = display(HTML(self.html()), display_id=True)
        elif finished or now - self._last >= self.min_interval_s:
            self._handle.update(HTML(self.html()))
        else:
            return
        self._last = now

    def close(self) -> None:
        if self._handle is not None:
            self._handle.update(HTML(self.html()))

    def html(self) -> str:
        lines = []
        for name, r in self._reports.items():
            total = r.rows_total if r.rows_total is not None else ""
            bar = f'<progress value="{r.rows_done}" max="{total or 1}"></progress>' if total else ""
            lines.append(
                f"<div><code>{html.escape(name)}</code> {bar} {r.rows_done}/{total or '?'} rows · "
                f"{r.tokens_per_s:,.0f} tok/s · cache {r.cache_hit_rate:.0%} · "
                f"{r.elapsed_s:.1f} s</div>")
        return "".join(lines)


@magics_class
class HeliumMagics(Magics):
    """``%hsql`` / ``%%hsql``; the connection is created on first use or taken from a variable."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.connection: Any = None
        self._opened_with: dict[str, Any] | None = None  # the options that opened it

    def _connection(self, variable: str | None, wanted: dict[str, Any] | None = None) -> Any:
        if wanted is not None:
            if variable is not None:
                raise ValueError("%hsql: give --connection or --model/--cluster, not both")
            if ("base_url" in wanted or "api_key" in wanted) and "model" not in wanted:
                raise ValueError("%hsql: --base-url and --api-key go with --model "
                                 "(e.g. --model openai:NAME --base-url http://host:8000/v1)")
            if wanted != self._opened_with:  # the same options again keep the connection
                import heliumsql  # (and its replicas, which take seconds to start)

                options = {"model": os.environ.get("HELIUMSQL_MODEL") or None, **wanted}
                if self._opened_with is not None:  # ours, not a user's: free its replicas
                    self.connection.close()
                    self.connection = self._opened_with = None
                self.connection = heliumsql.connect(**options)
                self._opened_with = wanted
            return self.connection
        if variable is not None:
            if variable not in self.shell.user_ns:
                raise NameError(f"--connection {variable}: no variable named {variable!r}; "
                                f"create one with {variable} = heliumsql.connect(...)")
            self.connection, self._opened_with = self.shell.user_ns[variable], None
        if self.connection is None:
            import heliumsql

            self.connection = heliumsql.connect(model=os.environ.get("HELIUMSQL_MODEL") or None)
        return self.connection

    @no_var_expand
    @line_cell_magic
    def hsql(self, line: str, cell: str | None = None) -> Any:
        """Run HeliumSQL: ``%hsql [options] SQL`` or ``%%hsql [options]`` + SQL in the cell."""
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame in tracebacks
        options, rest = parse_options(line)
        sql = rest if cell is None else (rest + "\n" + cell if rest else cell)
        if not sql.strip():
            raise ValueError("%hsql needs a query: %hsql SELECT ... or %%hsql with SQL in the cell")
        namespace = self.shell.user_ns
        sql = interpolate(sql, namespace)
        try:
            return self._run(sql, options, namespace)
        except (HeliumError, NameError) as exc:
            # The message says what to fix; the frames of the SQL layer would only hide it.
            raise exc.with_traceback(None) from None

    def _run(self, sql: str, options: dict[str, Any], namespace: dict[str, Any]) -> Any:
        con = self._connection(options["connection"], options.get("connect"))
        frames = frames_in(sql, namespace)
        existing = {name for (name,) in con.duckdb.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        registered = [name for name in frames if name not in existing]
        for name in registered:
            con.duckdb.register(name, frames[name])
        try:
            if options["explain"]:
                return Plan(con.explain(sql))
            progress = NotebookProgress()
            result = con.sql(sql, progress=progress)
            frame = result.df() if result is not None and result.returns_rows else None
            progress.close()
        finally:
            for name in registered:
                con.duckdb.unregister(name)
        if options["output"]:
            namespace[options["output"]] = frame
        return frame


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext heliumsql``."""
    ipython.register_magics(HeliumMagics)
