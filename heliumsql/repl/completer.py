"""Tab completion: SQL keywords, tables, columns, functions, and the named arguments of LLM calls.

Names come from DuckDB's own catalog (``duckdb_keywords()``, ``duckdb_columns()``,
``duckdb_functions()``) and from HeliumSQL's function catalog; the REPL refreshes the snapshot
after every statement, so completion never queries the database while the user types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

_WORD = re.compile(r"[\w.]+")
_CALL = re.compile(r"(\w+)\s*$")
_QUOTED = re.compile(r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?")


def llm_functions() -> dict[str, tuple[str, ...]]:
    """HeliumSQL's LLM functions and their named arguments, from the grammar's catalog.

    >>> llm_functions()["llm_filter"]
    ('model', 'system', 'on_error')
    """
    from heliumsql.grammar.functions import FUNCTIONS

    return {name: tuple(a.name for a in spec.args) for name, spec in FUNCTIONS.items()}


@dataclass(frozen=True)
class Catalog:
    """A snapshot of the names the completer offers."""

    keywords: tuple[str, ...] = ()
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()
    llm_functions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dot_commands: tuple[str, ...] = ()

    @classmethod
    def load(cls, con: Any, dot_commands: Iterable[str] = ()) -> Catalog:
        """Read the catalog of a ``duckdb`` connection.

        >>> import duckdb; con = duckdb.connect(); _ = con.execute("CREATE TABLE t(a INT)")
        >>> Catalog.load(con).tables
        {'t': ('a',)}
        """
        keywords = tuple(k.upper() for (k,) in con.execute(
            "SELECT keyword_name FROM duckdb_keywords()").fetchall())
        tables: dict[str, list[str]] = {}
        for table, column in con.execute(
                "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal "
                "ORDER BY table_name, column_index").fetchall():
            tables.setdefault(table, []).append(column)
        functions = tuple(f for (f,) in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_name NOT LIKE '\\_\\_%' ESCAPE '\\' ORDER BY 1").fetchall())
        return cls(keywords, {t: tuple(c) for t, c in tables.items()}, functions,
                   llm_functions(), tuple(dot_commands))


def innermost_call(text: str) -> str | None:
    """The name of the function whose argument list the cursor is in, if any.

    >>> innermost_call("SELECT llm('a {x}', max_t"), innermost_call("SELECT f(1) ")
    ('llm', None)
    """
    text = _QUOTED.sub("''", text)
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                match = _CALL.search(text[:i])
                return match.group(1).lower() if match else None
            depth -= 1
    return None


class SqlCompleter(Completer):
    """Completes the word before the cursor from a :class:`Catalog` snapshot.

    ``catalog`` is a callable so the REPL can swap snapshots without rebuilding the prompt.
    """

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog

    def get_completions(self, document: Document, complete_event: CompleteEvent
                        ) -> Iterator[Completion]:
        catalog: Catalog = self._catalog()
        before = document.text_before_cursor
        word = document.get_word_before_cursor(pattern=_WORD)
        if not before.strip() or before.lstrip().startswith(".") and " " not in before.strip():
            yield from self._dot(catalog, before.strip())
            return
        if _inside_string(before):
            # Inside a template, `{` starts a placeholder: offer the columns it can name.
            match = re.search(r"\{([\w.]*)$", before)
            if match:
                prefix = match.group(1).lower()
                for column in dict.fromkeys(_columns_in(catalog, sorted(catalog.tables))):
                    if column.lower().startswith(prefix):
                        yield Completion(column + "}", -len(prefix), display=column,
                                         display_meta="placeholder")
            return
        lower = word.lower()
        if "." in word:
            table, _, prefix = lower.rpartition(".")
            for column in _columns_of(catalog, table):
                if column.lower().startswith(prefix):
                    yield Completion(column, -len(prefix), display_meta=f"column of {table}")
            return
        call = innermost_call(before)
        seen: set[str] = set()
        if call in catalog.llm_functions:
            for arg in catalog.llm_functions[call]:
                if arg.startswith(lower):
                    seen.add(arg)
                    yield Completion(f"{arg} => ", -len(word), display=f"{arg} =>",
                                     display_meta=f"{call} argument")
        if not word:
            return
        in_query = {t for t in catalog.tables if re.search(rf"\b{re.escape(t)}\b", before, re.I)}
        groups: list[tuple[Iterable[str], str]] = [
            (_columns_in(catalog, sorted(in_query)), "column"),
            (catalog.tables, "table"),
            (catalog.llm_functions, "LLM function"),
            (_columns_in(catalog, sorted(set(catalog.tables) - in_query)), "column"),
            (catalog.keywords, "keyword"),
            (catalog.functions, "function"),
        ]
        for names, meta in groups:
            for name in names:
                if name.lower().startswith(lower) and name.lower() not in seen:
                    seen.add(name.lower())
                    text = name if meta != "keyword" or word.isupper() else name.lower()
                    yield Completion(text, -len(word), display_meta=meta)

    @staticmethod
    def _dot(catalog: Catalog, typed: str) -> Iterator[Completion]:
        for name in catalog.dot_commands:
            if f".{name}".startswith(typed):
                yield Completion(f".{name}", -len(typed), display_meta="command")


def _columns_of(catalog: Catalog, table: str) -> tuple[str, ...]:
    for name, columns in catalog.tables.items():
        if name.lower() == table:
            return columns
    return ()


def _columns_in(catalog: Catalog, tables: Iterable[str]) -> Iterator[str]:
    for table in tables:
        yield from catalog.tables[table]


def _inside_string(text: str) -> bool:
    """Whether the cursor is inside a quoted string (LLM templates are long strings)."""
    return text.count("'") % 2 == 1
