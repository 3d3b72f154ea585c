"""Prompt templates: ``'Review: {review} ({t.stars} stars)'`` split into static and dynamic parts.

``{column}`` and ``{table.column}`` are placeholders; ``{{`` and ``}}`` stand for literal braces.
The static parts are what prefix sharing and caching work on, so they are kept explicit.

>>> t = parse_template("Hi {name}, see {{this}}")
>>> t.columns, t.static_prefix
(('name',), 'Hi ')
>>> [s.text if isinstance(s, Static) else s.column for s in t.segments]
['Hi ', 'name', ', see {this}']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from heliumsql.errors import ParseError

_NAME = re.compile(r"^\s*(?:(?P<table>[A-Za-z_][\w$]*)\.)?(?P<column>[A-Za-z_][\w$]*)\s*$")


@dataclass(frozen=True)
class Static:
    """Text sent as is."""

    text: str


@dataclass(frozen=True)
class Placeholder:
    """A column whose value (``CAST(x AS VARCHAR)``, NULL as '') is spliced in."""

    column: str
    table: str | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}" if self.table else self.column


Segment = Union[Static, Placeholder]


@dataclass(frozen=True)
class Template:
    """A parsed template: ``segments`` in order, the ``columns`` it reads, its ``static_prefix``."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(s for s in self.segments if isinstance(s, Placeholder))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.placeholders)

    @property
    def static_prefix(self) -> str:
        first = self.segments[0] if self.segments else None
        return first.text if isinstance(first, Static) else ""


def _error(text: str, pos: int, message: str) -> ParseError:
    excerpt = f"  {text}\n  {' ' * pos}^"
    return ParseError(f"prompt template {text!r}: {message} (write {{{{ or }}}} for a literal brace)",
                      None, None, excerpt)


def parse_template(text: str) -> Template:
    """Split ``text`` into static text and ``{column}`` placeholders.

    Raises ParseError for an unbalanced brace or a placeholder that is not a column name.

    >>> parse_template("{a} and {t.b}").columns
    ('a', 't.b')
    """
    segments: list[Segment] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i + 1:i + 2] == ch:
            buf.append(ch)
            i += 2
            continue
        if ch == "}":
            raise _error(text, i, "'}' without a matching '{'")
        if ch == "{":
            end = text.find("}", i + 1)
            nested = text.find("{", i + 1)
            if end < 0 or (0 <= nested < end):
                raise _error(text, i, "'{' is not closed")
            match = _NAME.match(text[i + 1:end])
            if match is None:
                raise _error(text, i, f"{{{text[i + 1:end]}}} is not a column name")
            if buf:
                segments.append(Static("".join(buf)))
                buf = []
            segments.append(Placeholder(match["column"], match["table"]))
            i = end + 1
            continue
        buf.append(ch)
        i += 1
    if buf:
        segments.append(Static("".join(buf)))
    return Template(text, tuple(segments))
