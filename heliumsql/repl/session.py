"""One REPL session: the connection, the settings dot commands change, and running input.

The interactive prompt, ``-c``, piped stdin and ``.read`` all go through :meth:`Session.run_text`,
so a script behaves exactly as if it were typed.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import duckdb
from rich.console import Console
from rich.markup import escape

from heliumsql.errors import HeliumError, ParseError
from heliumsql.repl.live_progress import LiveProgress
from heliumsql.repl.render import print_result
from heliumsql.repl.statements import Item, read_items


class Session:
    """Settings and connection of one ``heliumsql`` run.

    >>> s = Session(model="path/to/model", console=Console())           # doctest: +SKIP
    >>> s.run_text("CREATE TABLE t AS SELECT 1 AS x; SELECT * FROM t;")  # doctest: +SKIP
    True
    """

    def __init__(self, database: str = ":memory:", model: str | None = None, *,
                 device: str = "auto", console: Console | None = None,
                 err_console: Console | None = None, interactive: bool = False,
                 connect: Callable[..., Any] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.database = database
        self.model = model
        self.device = device
        self.console = console or Console()
        self.stdout_console = self.console
        self.err = err_console or Console(stderr=True)
        self.interactive = interactive
        self.mode = "table"
        self.timer = interactive
        self.explain = False
        self.max_rows = 40
        self.quit_requested = False
        self._output_file: TextIO | None = None
        self._connect = connect
        self._options = dict(options or {})  # base_url / api_key, or cluster / replicas
        self._con: Any = None

    # -- the connection ------------------------------------------------------------------------
    @property
    def con(self) -> Any:
        """The HeliumSQL connection, opened on first use (the model loads on the first LLM call)."""
        if self._con is None:
            self._con = self._open(self.model)
        return self._con

    def _open(self, model: str | None) -> Any:
        connect = self._connect
        if connect is None:
            from heliumsql import connect
        # A named in-memory database outlives this connection while another one holds it,
        # which lets `.model` reopen the session on another model without losing its tables.
        database = f":memory:heliumsql_{id(self)}" if self.database == ":memory:" else self.database
        from heliumsql.backends import is_remote

        # base_url / api_key are a remote model's only; cluster / replicas always go, so that
        # connect() refuses a cluster for a remote model instead of it being dropped unsaid.
        keep = ("base_url", "api_key", "cluster", "replicas") if is_remote(model) else \
            ("cluster", "replicas")
        return connect(database, model=model, device=self.device,
                       **{k: v for k, v in self._options.items() if k in keep})

    def switch_model(self, model: str) -> None:
        """Answer later LLM calls with ``model``; tables (and in-memory data) stay."""
        old = self.con
        self._con = self._open(model)
        self.model = model
        old.close()

    @property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        return self.con.duckdb

    def engine_if_loaded(self) -> Any | None:
        """The connection's engine if a query already loaded it, without loading it."""
        con = self._con
        return con.engine if con is not None and con.engine_loaded else None

    def close(self) -> None:
        self.set_output(None)
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- output --------------------------------------------------------------------------------
    def set_output(self, path: str | None) -> None:
        """Send results to ``path`` (``None``: back to the terminal)."""
        if self._output_file is not None:
            self._output_file.close()
            self._output_file = None
        if path is None:
            self.console = self.stdout_console
            return
        self._output_file = open(Path(path).expanduser(), "w", encoding="utf-8")  # noqa: SIM115
        self.console = Console(file=self._output_file, width=max(self.stdout_console.width, 100),
                               color_system=None, force_terminal=False)

    def info(self, message: str) -> None:
        self.stdout_console.print(message, highlight=False, soft_wrap=True)

    def error(self, exc: BaseException | str) -> None:
        """Print an error as its message only (with a caret excerpt for parse errors)."""
        if isinstance(exc, str):
            text = exc
        elif isinstance(exc, ParseError):
            text = str(exc)  # already "syntax error: ..." with the caret excerpt
        elif isinstance(exc, HeliumError):
            text = f"{type(exc).__name__}: {exc}"
        elif isinstance(exc, duckdb.Error):
            text = str(exc)
        else:
            text = f"Internal error ({type(exc).__name__}): {exc}"
            if os.environ.get("HELIUMSQL_DEBUG"):
                text += "\n" + "".join(traceback.format_exception(exc))
        # soft_wrap: a message is one logical line, never folded at the terminal width.
        self.err.print(f"[bold red]Error:[/] {escape(text)}", highlight=False, soft_wrap=True)

    # -- running -------------------------------------------------------------------------------
    def run_text(self, text: str, *, stop_on_error: bool = True) -> bool:
        """Run every dot command and statement in ``text``; ``False`` if any failed."""
        items, _ = read_items(text, final=True)
        ok = True
        for item in items:
            if self.quit_requested:
                break
            ok = self.run_item(item) and ok
            if not ok and stop_on_error:
                break
        return ok

    def run_item(self, item: Item) -> bool:
        if item.kind == "dot":
            from heliumsql.repl.commands import run_dot_command

            return run_dot_command(self, item.text)
        return self.run_sql(item.text)

    def run_sql(self, statement: str) -> bool:
        """Run one statement and print its result; ``False`` on error or Ctrl-C."""
        started = time.perf_counter()
        try:
            con = self.con
            if self.explain:
                self._print_plan(con, statement)
            with LiveProgress(self.stdout_console) as bar:
                result = con.sql(statement, progress=bar)
                # Table mode reads the result while the bar still shows (LLM work may be lazy).
                if result is not None and result.returns_rows:
                    print_result(result, self.console, self.mode, self.max_rows)
        except KeyboardInterrupt:
            self.err.print("[yellow]Query cancelled.[/]", highlight=False)
            return False
        except Exception as exc:  # noqa: BLE001 - the REPL reports every error and goes on
            if _interrupted(exc):
                self.err.print("[yellow]Query cancelled.[/]", highlight=False)
            else:
                self.error(exc)
            return False
        if self.timer:
            self.info(f"[dim]Run Time: {time.perf_counter() - started:.3f} s[/]")
        if self.explain and getattr(result, "analyze", None) is not None:
            self.console.print(str(result.analyze), highlight=False, markup=False)
        return True

    def _print_plan(self, con: Any, statement: str) -> None:
        try:
            plan = con.explain(statement)
        except HeliumError:
            raise
        except Exception:  # noqa: BLE001 - statements EXPLAIN cannot take (SET, CREATE...) run as is
            return
        self.console.print(plan, highlight=False, markup=False)


def _interrupted(exc: BaseException) -> bool:
    """DuckDB turns Ctrl-C during its own work into ``RuntimeError('Query interrupted')``."""
    from heliumsql.errors import CancelledError

    return isinstance(exc, CancelledError) or (
        type(exc) is RuntimeError and "interrupted" in str(exc).lower())
