"""Parse one statement that calls an LLM function with sqlglot's ``helium`` dialect.

Whatever goes wrong in sqlglot (its ParseError, or RecursionError, IndexError ... on input it was
not written for) is a :class:`heliumsql.ParseError` with the line and column in the whole text
the user submitted and a caret excerpt, never a raw exception.

>>> parse_llm_statement("SELECT llm('x')", "SELECT 1; SELECT llm('x')", 10, 7).sql("helium")
"SELECT LLM('x')"
>>> parse_llm_statement("SELECT llm('x' FROM t", "SELECT 1;\\nSELECT llm('x' FROM t", 10, 7)
Traceback (most recent call last):
heliumsql.errors.ParseError: syntax error: Expecting ) at line 2, column 16
  SELECT llm('x' FROM t
                 ^^^^
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import sqlglot
import sqlglot.errors
from sqlglot import exp

import heliumsql.grammar  # noqa: F401 - registers the "helium" dialect
from heliumsql.errors import ParseError
from heliumsql.statements import duckdb_tokens

# Deepest parenthesis nesting HeliumSQL plans in a statement with LLM calls. sqlglot and the
# rewrite rules recurse once per level (sqlglot's parser about 24 frames each), so the point
# where Python's recursion limit stops them depends on the caller's stack and on whoever last
# set the limit; a fixed bound makes the refusal the same everywhere. DuckDB-only statements
# never reach sqlglot and nest as deep as DuckDB allows.
MAX_NESTING = 24
_TOO_DEEP = ("the statement nests too deeply to parse (e.g. dozens of llm() calls inside each "
             "other); compute inner calls in CTEs and refer to their columns")


def parse_llm_statement(text: str, full: str, offset: int, llm_at: int) -> exp.Expr:
    """``text`` (which starts at ``offset`` of ``full`` and calls an LLM function at ``llm_at``)
    parsed; any failure is a ParseError located in ``full``."""
    deepest = _too_deep_at(text)
    if deepest is not None:
        before = text[:deepest]
        line, col = before.count("\n") + 1, deepest - (before.rfind("\n") + 1) + 1
        raise _located(f"{_TOO_DEEP} (more than {MAX_NESTING} levels of parentheses)", full,
                       offset, line, col, 1)
    try:
        # A comment after the ';' comes back as a Semicolon expression: not a statement.
        parsed = [s for s in sqlglot.parse(text, read="helium")
                  if s is not None and not isinstance(s, exp.Semicolon)]
    except sqlglot.errors.ParseError as error:
        raise _parse_error(error, full, offset) from None
    except Exception as exc:  # noqa: BLE001 - sqlglot fails in many ways (RecursionError, ...)
        before = text[:llm_at]
        line, col = before.count("\n") + 1, llm_at - (before.rfind("\n") + 1) + 1
        why = (_TOO_DEEP if isinstance(exc, RecursionError) else
               f"HeliumSQL cannot parse this statement ({type(exc).__name__}); simplify it, or "
               "move the LLM call into a CTE")
        raise _located(why, full, offset, line, col,
                       len(text[llm_at:].split("(", 1)[0])) from None
    if len(parsed) != 1:
        raise ParseError("expected one statement")
    return parsed[0]


def bind_parameters(statement: exp.Expr, params: object) -> exp.Expr:
    """The parameter values written into a statement HeliumSQL plans (DuckDB binds the others)."""
    if params is None:
        return statement
    if isinstance(params, Mapping):
        bound = exp.replace_placeholders(statement, **params)
    elif isinstance(params, Sequence) and not isinstance(params, str):
        # ``?`` takes the values in order, ``$1`` by number.
        numbered = {str(i): value for i, value in enumerate(params, start=1)}
        bound = exp.replace_placeholders(statement, *params, **numbered)
    else:
        raise duckdb.InvalidInputException("Prepared parameters can only be passed as a list or a dictionary")
    if bound.find(exp.Placeholder, exp.Parameter) is not None:
        raise duckdb.InvalidInputException(
            "Invalid Input Error: the statement has more parameters than values were given")
    return bound


def _too_deep_at(text: str) -> int | None:
    """Offset of the first ``(`` that opens level ``MAX_NESTING + 1``, if any (parentheses in
    strings and comments do not count: DuckDB's tokenizer tells them apart)."""
    depth = 0
    for start, kind in duckdb_tokens(text):
        if kind != duckdb.token_type.operator:
            continue
        if text[start] == "(":
            depth += 1
            if depth > MAX_NESTING:
                return start
        elif text[start] == ")":
            depth = max(depth - 1, 0)
    return None


def _parse_error(error: sqlglot.errors.ParseError, full: str, offset: int) -> ParseError:
    """Our ParseError with line and column in the whole submitted text and a caret excerpt."""
    info = error.errors[0] if error.errors else {}
    description = info.get("description") or str(error).splitlines()[0]
    line, col = info.get("line"), info.get("col")
    if line is None or col is None:
        return ParseError(f"syntax error: {description}")
    highlight = info.get("highlight") or ""
    start = max(col - len(highlight) + 1, 1)  # sqlglot's col is where the highlight ends
    return _located(f"syntax error: {description}", full, offset, line, start, len(highlight))


def _located(message: str, full: str, offset: int, line: int, col: int, width: int) -> ParseError:
    """A ParseError at (line, col) of the statement that starts at ``offset`` of ``full``."""
    before = full[:offset]
    if line == 1:
        col += offset - (before.rfind("\n") + 1)
    line += before.count("\n")
    lines = full.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    excerpt = f"  {source}\n  {' ' * (col - 1)}{'^' * max(width, 1)}"
    return ParseError(message, line, col, excerpt)
