"""Cut SQL text into statements with DuckDB's own splitter, and find the LLM calls in one.

The connection and the REPL both cut here, so they never disagree on where a statement ends.
DuckDB's parser (``duckdb.extract_statements``) splits a text it accepts; each statement keeps its
``;`` and the comments after it, so a trailing comment is never a statement of its own. A text the
parser rejects (a syntax error, an unfinished statement, or syntax only HeliumSQL reads) is cut at
the ``;`` tokens of DuckDB's tokenizer, so a ``;`` inside a string or a comment never cuts.

>>> [s.text for s in split_statements("SELECT 'a;b'; SELECT 2; -- done")]
["SELECT 'a;b';", ' SELECT 2; -- done']
>>> find_llm_call("SELECT 'llm(' || llm ( x ) FROM t", frozenset({"llm"}))
17
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

_COMMENT = duckdb.token_type.comment
_OPERATOR = duckdb.token_type.operator
_NAME_TOKENS = (duckdb.token_type.identifier, duckdb.token_type.keyword)


@dataclass(frozen=True)
class Statement:
    """One statement as written: ``offset`` is where ``text`` starts in the whole text; ``type``
    is DuckDB's statement type, ``None`` where DuckDB's parser rejects the statement.

    >>> split_statements("SELECT 1")
    [Statement(text='SELECT 1', offset=0, type=StatementType.SELECT)]
    """

    text: str
    offset: int
    type: duckdb.StatementType | None

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


def split_statements(text: str) -> list[Statement]:
    """Every statement of ``text`` in order; a text of only comments has none."""
    try:
        parsed = duckdb.extract_statements(text)
    except duckdb.Error:
        return _cut_at_semicolons(text)
    statements, offset = [], 0
    for statement in parsed:
        # DuckDB's pieces are consecutive slices of the text; find() only guards that assumption.
        start = text.find(statement.query, offset)
        start = offset if start < 0 else start
        statements.append(Statement(statement.query, start, statement.type))
        offset = start + len(statement.query)
    return statements


def is_terminated(text: str) -> bool:
    """Whether the last token that is not a comment is a ``;`` (a statement the REPL can run).

    >>> is_terminated("SELECT 1; -- c"), is_terminated("SELECT 1 -- c;"), is_terminated("SELECT ';")
    (True, False, False)
    """
    tokens = [(start, kind) for start, kind in duckdb_tokens(text) if kind != _COMMENT]
    return bool(tokens) and tokens[-1][1] == _OPERATOR and text[tokens[-1][0]] == ";"


def find_llm_call(text: str, names: frozenset[str]) -> int | None:
    """Offset of the first call of a function in ``names`` (lower case): a name token followed
    by ``(``, outside strings and comments. Quoted and qualified names count too, since a false
    positive costs only a parse, while a miss would send an LLM call to DuckDB."""
    tokens = [(start, kind) for start, kind in duckdb_tokens(text) if kind != _COMMENT]
    words = [text[start:end].strip().strip('"').lower()
             for (start, _), (end, _) in zip(tokens, [*tokens[1:], (len(text), None)])]
    for i, ((start, kind), (after, _)) in enumerate(zip(tokens, tokens[1:])):
        if kind in _NAME_TOKENS and text[after] == "(" and words[i] in names \
                and not _defines(words, i):
            return start
    return None


def _defines(words: list[str], i: int) -> bool:
    """Whether word ``i`` is the name in ``CREATE MACRO [schema.]name(`` (not a call)."""
    before = words[i - 3] if i >= 2 and words[i - 1] == "." else words[i - 1] if i else ""
    return before in ("macro", "function")


def first_word(text: str) -> tuple[str, int]:
    """The first token that is not a comment, upper-cased, and where the text after it starts."""
    tokens = [(start, kind) for start, kind in duckdb_tokens(text) if kind != _COMMENT]
    if not tokens:
        return "", len(text)
    start = tokens[0][0]
    end = tokens[1][0] if len(tokens) > 1 else len(text)
    return text[start:end].strip().upper(), start + len(text[start:end].rstrip())


def _cut_at_semicolons(text: str) -> list[Statement]:
    cuts = [start + 1 for start, kind in duckdb_tokens(text)
            if kind == _OPERATOR and text[start] == ";"]
    statements: list[Statement] = []
    begin = 0
    for end in [*cuts, len(text)]:
        piece = text[begin:end]
        if any(kind != _COMMENT and piece[start] != ";" for start, kind in duckdb_tokens(piece)):
            statements.append(Statement(piece, begin, _statement_type(piece)))
        elif statements and piece:
            # Only comments (or a stray ';') after a statement belong to it.
            last = statements[-1]
            statements[-1] = Statement(last.text + piece, last.offset, last.type)
        begin = end
    return statements


def _statement_type(piece: str) -> duckdb.StatementType | None:
    try:
        parsed = duckdb.extract_statements(piece)
    except duckdb.Error:
        return None
    return parsed[0].type if len(parsed) == 1 else None


def duckdb_tokens(text: str) -> list[tuple[int, object]]:
    """DuckDB's tokens of ``text`` with character offsets (DuckDB counts UTF-8 bytes)."""
    tokens = duckdb.tokenize(text)
    if text.isascii():
        return tokens
    char_at = [0] * (len(text.encode()) + 1)
    position = 0
    for index, char in enumerate(text):
        width = len(char.encode())
        for k in range(width):
            char_at[position + k] = index
        position += width
    char_at[position] = len(text)
    return [(char_at[start], kind) for start, kind in tokens]
