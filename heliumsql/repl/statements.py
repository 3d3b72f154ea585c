"""Cut REPL input into dot commands and complete SQL statements.

Statements are cut by :func:`heliumsql.statements.split_statements` (DuckDB's own splitter, the
one the connection uses), so a ``;`` inside a string, a quoted identifier, a ``$$`` string or a
comment never ends a statement, and an unterminated string keeps the statement open.
"""

from __future__ import annotations

from dataclasses import dataclass

from heliumsql.statements import is_terminated, split_statements


@dataclass(frozen=True)
class Item:
    """One unit of REPL input: ``kind`` is ``"sql"`` (one statement) or ``"dot"`` (one dot command).

    >>> Item("sql", "SELECT 1")
    Item(kind='sql', text='SELECT 1')
    """

    kind: str
    text: str


def split_sql(text: str) -> tuple[list[str], str]:
    """Split ``text`` into complete statements (ended by ``;``) and the unfinished remainder.

    >>> split_sql("SELECT 'a;b'; SELECT 2")
    (["SELECT 'a;b';"], ' SELECT 2')
    """
    statements = split_statements(text)
    if statements and not is_terminated(statements[-1].text):
        *done, last = statements
        return [s.text.strip() for s in done], text[last.offset:]
    return [s.text.strip() for s in statements], ""


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
    [Item(kind='dot', text='.mode csv'), Item(kind='sql', text='SELECT 1;'), Item(kind='sql', text='SELECT 2')]
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

