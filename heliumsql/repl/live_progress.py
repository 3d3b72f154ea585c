"""A live progress bar for one running statement, fed by ``Connection.sql(progress=...)``.

The bar appears only when a statement runs for a moment (a spinner after ``delay_s``, so quick
DuckDB statements print nothing extra) or reports LLM work; each LLM operator gets its own line
with rows done / total, tokens per second and the prompt-cache hit rate. It is transient: the
line disappears when the statement ends, leaving the result.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID,
                           TextColumn, TimeElapsedColumn)

from heliumsql.progress import Progress as Report


class LiveProgress:
    """Context manager whose instances are ``progress=`` callbacks.

    >>> with LiveProgress(Console()) as bar:                                # doctest: +SKIP
    ...     con.sql("SELECT llm('hi {x}') FROM t", progress=bar)
    """

    def __init__(self, console: Console, delay_s: float = 0.5, label: str = "running") -> None:
        self.console = console
        self.delay_s = delay_s
        self.label = label
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._timer: threading.Timer | None = None
        self._closed = False
        # Live displays only make sense on a terminal; piped output gets the result alone.
        self.enabled = console.is_terminal and not console.is_dumb_terminal

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._timer = threading.Timer(self.delay_s, self._start)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def _start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._bar is not None or self._closed:
            return
        self._bar = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TextColumn("{task.fields[detail]}", style="dim"),
            TimeElapsedColumn(), console=self.console, transient=True)
        self._tasks["__statement__"] = self._bar.add_task(self.label, total=None, detail="")
        self._bar.start()

    def __call__(self, report: Report) -> None:
        """Take one progress report from the executor (any thread)."""
        if not self.enabled:
            return
        with self._lock:
            self._start_locked()
            if self._bar is None:
                return
            detail = (f"{report.tokens_per_s:,.0f} tok/s · "
                      f"cache {report.cache_hit_rate:.0%}")
            task = self._tasks.get(report.operator)
            if task is None:
                task = self._bar.add_task(report.operator, total=report.rows_total, detail=detail)
                self._tasks[report.operator] = task
            self._bar.update(task, completed=report.rows_done, total=report.rows_total,
                             detail=detail)
