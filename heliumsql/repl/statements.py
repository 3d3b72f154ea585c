"""Cut REPL input into dot commands and complete SQL statements.

The tokenizer of sqlglot's DuckDB dialect decides where statements end, so a ``;`` inside a
string, a quoted identifier, a ``$$`` string or a comment never ends a statement, and an
unterminated string keeps the statement open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType


@dataclass(frozen=True)
class Item:
    """One unit of REPL input: ``kind`` is ``"sql"`` (one statement) or ``"dot"`` (one dot command).

    >>> Item("sql", "SELECT 1")
    Item(kind='sql', text='SELECT 1')
    """

    kind: str
    text: str


def _tokenizer_dialect() -> Dialect:
    return Dialect.get_or_raise("duckdb")


def split_sql(text: str) -> tuple[list[str], str]:
    """Split ``text`` into complete statements (ended by ``;``) and the unfinished remainder.

    >>> split_sql("SELECT 'a;b'; SELECT 2")
    (["SELECT 'a;b'"], ' SELECT 2')
    """
    try:
        tokens = _tokenizer_dialect().tokenize(text)
    except TokenError:
        # An unterminated string or comment: nothing after the last safe cut can be complete.
        # Cut only at semicolons of the longest prefix that does tokenize.
        head, tail = _split_before_broken_token(text)
        statements, rest = split_sql(head) if head else ([], "")
        return statements, rest + tail
    statements: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            piece = text[start:token.start].strip()
            if piece:
                statements.append(piece)
            start = token.end + 1
    return statements, _strip_comments_only(text[start:])


def _split_before_broken_token(text: str) -> tuple[str, str]:
    """Find the last ``;`` before which ``text`` tokenizes cleanly and split there."""
    cut = text.rfind(";")
    while cut >= 0:
        try:
            _tokenizer_dialect().tokenize(text[:cut + 1])
            return text[:cut + 1], text[cut + 1:]
        except TokenError:
            cut = text.rfind(";", 0, cut)
    return "", text


def _strip_comments_only(rest: str) -> str:
    """A remainder of only whitespace and comments is nothing left to run."""
    try:
        return rest if _tokenizer_dialect().tokenize(rest) else ""
    except TokenError:
        return rest


def is_complete(text: str) -> bool:
    """Whether the buffer can be run now: empty, a dot command, or SQL that ends with ``;``.

    >>> is_complete("SELECT 1"), is_complete("SELECT 1;"), is_complete(".tables")
    (False, True, True)
    """
    stripped = text.strip()
    if not stripped or stripped.startswith("."):
        return True
    statements, rest = split_sql(text)
    return bool(statements) and not rest.strip()


def read_items(text: str, *, final: bool = True) -> tuple[list[Item], str]:
    """Cut a script (``.read`` file, piped stdin, ``-c`` argument) into items.

    A line that starts with ``.`` while no statement is open is a dot command. With ``final``
    the trailing statement needs no ``;`` (as in ``heliumsql -c "SELECT 1"``); otherwise it is
    returned as the unfinished remainder.

    >>> read_items(".mode csv\\nSELECT 1;\\nSELECT 2")[0]
    [Item(kind='dot', text='.mode csv'), Item(kind='sql', text='SELECT 1'), Item(kind='sql', text='SELECT 2')]
    """
    items: list[Item] = []
    pending = ""
    for line in text.splitlines(keepends=True):
        if not pending.strip() and line.lstrip().startswith("."):
            items.append(Item("dot", line.strip()))
            pending = ""
            continue
        pending += line
        statements, pending = split_sql(pending)
        items.extend(Item("sql", s) for s in statements)
        if statements and pending.lstrip().startswith("."):
            # `SELECT 1; .mode csv` on one line: the command follows the statement.
            items.append(Item("dot", pending.strip()))
            pending = ""
    if final and pending.strip():
        items.append(Item("sql", pending.strip()))
        pending = ""
    return items, pending


def iter_statements(text: str) -> Iterator[str]:
    """Every statement of ``text``, the last one with or without its ``;``."""
    statements, rest = split_sql(text)
    yield from statements
    if rest.strip():
        yield rest.strip()
