"""Typed LLM answers: a DuckDB type string (``returns => 'STRUCT(name VARCHAR, age INTEGER)'``)
as the JSON schema the engine decodes under, and the JSON answer back as a value of that type.

DuckDB parses and names the type (``duckdb.type``) (so ``INT`` and ``INTEGER`` are one type, spelled as DuckDB
spells it); a whitelist says which types have a JSON form here.

Why every answer fits ``max_tokens``: the schema bounds each value's length (strings get
``maxLength`` and no escapes or control characters, lists ``maxItems``, numbers a range and a
number of decimals), so the longest JSON text the grammar admits has a known number of bytes.
Every token the grammar lets through adds at least one byte, so when that byte count (plus one
token for end-of-sequence) is within ``max_tokens`` the grammar closes the value before the
budget ends: the answer always parses. The bounds are the largest that fit; if none fit, the
call is a ``BindError`` before anything runs.

>>> t = parse_output_type("STRUCT(name VARCHAR, age INT)")
>>> t.sql, [name for name, _ in t.fields]
('STRUCT("name" VARCHAR, age INTEGER)', ['name', 'age'])
>>> decode_json(t, '{"name": "Ann", "age": 41}')
{'name': 'Ann', 'age': 41}
>>> json_schema(parse_output_type("INTEGER"), max_tokens=16)["type"]
'integer'
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from heliumsql.errors import BindError

SUPPORTED = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL(p,s)", "DATE", "VARCHAR",
             "lists of these (T[])", "STRUCT(name T, ...)")
# Characters a type string may hold (a cheap first check before DuckDB parses it).
_TYPE_TEXT = re.compile(r'^[A-Za-z0-9_ ,()\[\]"]+$')
# BIGINT answers stay within 18 digits: the grammar library cannot build the full 64-bit range.
_BIGINT_LIMIT = 10**18 - 1
_INTEGER_LIMIT = 2**31 - 1
# DOUBLE answers: |x| < 1e15 with at most 6 decimals (a bounded JSON number; see module doc).
_DOUBLE_DIGITS, _DOUBLE_DECIMALS = 15, 6
_DECIMAL_DIGITS = 15  # integer digits of a DECIMAL with a scale (see _number_shape)
# A string holds no quote, backslash or control character, so each character is at most the
# four bytes of its UTF-8 form (escapes would need six).
_STRING_PATTERN = '^[^"\\\\\\x00-\\x1f]*$'
_BYTES_PER_CHAR = 4
# Real calendar dates from 0001-01-01 to 9999-12-31 (February 29 in leap years only): the
# library's own "date" format admits year 0 and February 29 of every year, which DuckDB and
# Python reject.
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE_PATTERN = (
    f"^(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|{_LEAP_YEAR}-02-29)$")
_MAX_ITEMS = 8
_USEFUL_CHARS = 16  # lists get fewer items before strings get shorter than this


@dataclass(frozen=True)
class OutputType:
    """A supported DuckDB type: ``sql`` as DuckDB spells it, ``kind`` (boolean, integer, bigint,
    double, decimal, date, varchar, list, struct), ``fields`` of a struct, ``item`` of a list."""

    sql: str
    kind: str
    fields: tuple[tuple[str, OutputType], ...] = ()
    item: OutputType | None = None
    precision: int = 0
    scale: int = 0

    @property
    def constrained(self) -> bool:
        """Decoded under a grammar (a plain VARCHAR answer is free text, as without ``returns``)."""
        return self.kind != "varchar"


_SCALARS = {"boolean", "integer", "bigint", "double", "decimal", "date", "varchar"}


def parse_output_type(text: str, where: str = "returns") -> OutputType:
    """The type ``text`` names; BindError naming it and what is supported otherwise."""
    problem = f"{where} => {text!r} is not a supported type; supported: {', '.join(SUPPORTED)}"
    if not _TYPE_TEXT.match(text):
        raise BindError(problem)
    try:
        duck = duckdb.type(text)  # DuckDB's own type parser (no statement runs)
    except duckdb.Error as exc:
        raise BindError(f"{problem} ({str(exc).splitlines()[0]})") from None
    return _from_duckdb(duck, problem)


def _from_duckdb(duck: Any, problem: str) -> OutputType:
    kind = duck.id
    if kind == "struct":
        fields = tuple((name, _from_duckdb(child, problem)) for name, child in duck.children)
        return OutputType(str(duck), "struct", fields=fields)
    if kind == "list":
        return OutputType(str(duck), "list", item=_from_duckdb(duck.children[0][1], problem))
    if kind == "decimal":
        precision, scale = (int(v) for _, v in duck.children)
        return OutputType(str(duck), "decimal", precision=precision, scale=scale)
    if kind not in _SCALARS:
        raise BindError(f"{problem} ({duck} has no JSON form here)")
    return OutputType(str(duck), kind)


def arrow_type(t: OutputType) -> pa.DataType:
    """The Arrow type DuckDB reads as ``t``."""
    simple = {"boolean": pa.bool_(), "integer": pa.int32(), "bigint": pa.int64(),
              "double": pa.float64(), "date": pa.date32(), "varchar": pa.string()}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "decimal":
        return pa.decimal128(t.precision, t.scale)
    if t.kind == "list":
        assert t.item is not None
        return pa.list_(arrow_type(t.item))
    return pa.struct([(name, arrow_type(f)) for name, f in t.fields])


def _schema(t: OutputType, chars: int, items: int) -> dict[str, Any]:
    if t.kind == "boolean":
        return {"type": "boolean"}
    if t.kind in ("integer", "bigint"):
        limit = _INTEGER_LIMIT if t.kind == "integer" else _BIGINT_LIMIT
        return {"type": "integer", "minimum": -limit, "maximum": limit}
    if t.kind in ("double", "decimal"):
        digits, decimals = _number_shape(t)
        if not decimals:
            return {"type": "integer", "minimum": -(10**digits - 1), "maximum": 10**digits - 1}
        # Exclusive integer bounds: exact in JSON, where 10**digits - 10**-decimals as a float
        # may round up to 10**digits (one digit too many for the DECIMAL).
        return {"type": "number", "exclusiveMinimum": -10**digits, "exclusiveMaximum": 10**digits,
                "multipleOf": 10**-decimals}
    if t.kind == "date":
        return {"type": "string", "pattern": _DATE_PATTERN}
    if t.kind == "varchar":
        return {"type": "string", "maxLength": chars, "pattern": _STRING_PATTERN}
    if t.kind == "list":
        assert t.item is not None
        return {"type": "array", "items": _schema(t.item, chars, items), "maxItems": items}
    return {"type": "object", "properties": {n: _schema(f, chars, items) for n, f in t.fields},
            "required": [n for n, _ in t.fields], "additionalProperties": False}


def _number_shape(t: OutputType) -> tuple[int, int]:
    """(integer digits, decimals) a DOUBLE or DECIMAL answer may have; the grammar library
    builds number ranges up to 10**18 (integers) or 10**15 (with decimals)."""
    if t.kind == "double":
        return _DOUBLE_DIGITS, _DOUBLE_DECIMALS
    digits = t.precision - t.scale
    return min(digits, _DECIMAL_DIGITS if t.scale else 18), t.scale


def _worst_bytes(t: OutputType, chars: int, items: int) -> int:
    """The most bytes a JSON value of ``_schema(t, chars, items)`` can take (compact form)."""
    if t.kind == "boolean":
        return 5
    if t.kind in ("integer", "bigint"):
        return 1 + len(str(_INTEGER_LIMIT if t.kind == "integer" else _BIGINT_LIMIT))
    if t.kind in ("double", "decimal"):
        digits, decimals = _number_shape(t)
        return 2 + max(digits, 1) + 1 + decimals
    if t.kind == "date":
        return 12
    if t.kind == "varchar":
        return 2 + _BYTES_PER_CHAR * chars
    if t.kind == "list":
        assert t.item is not None
        return 2 + items * (_worst_bytes(t.item, chars, items) + 1)
    return 2 + sum(len(json.dumps(n)) + 2 + _worst_bytes(f, chars, items) for n, f in t.fields)


def json_schema(t: OutputType, max_tokens: int) -> dict[str, Any]:
    """The JSON schema of ``t`` with the largest string/list bounds whose longest value fits in
    ``max_tokens`` (one token kept for end-of-sequence); BindError when even empty ones do not."""
    budget = max_tokens - 1
    fits = []  # (list items, the most characters per string that still fit)
    for items in (_MAX_ITEMS, 4, 2, 1, 0):
        if _worst_bytes(t, 0, items) > budget:
            continue
        low, high = 0, budget
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if _worst_bytes(t, mid, items) <= budget else (low, mid - 1)
        fits.append((items, low))
    if fits:
        # Most list items that leave strings a useful length; else the longest strings.
        items, chars = next(((i, c) for i, c in fits if c >= _USEFUL_CHARS),
                            max(fits, key=lambda f: f[1]))
        return _schema(t, chars, items)
    need = _worst_bytes(t, 0, 0) + 1
    raise BindError(f"max_tokens => {max_tokens} is too small for an answer of type {t.sql}: "
                    f"give max_tokens => {need} or more")


def decode_json(t: OutputType, text: str) -> Any:
    """The JSON answer ``text`` as a Python value of ``t`` (ValueError if it is not one)."""
    return _value(t, json.loads(text))


def _value(t: OutputType, v: Any) -> Any:
    if v is None:
        return None
    if t.kind == "date":
        return datetime.date.fromisoformat(v)
    if t.kind == "decimal":
        return decimal.Decimal(str(v)).quantize(decimal.Decimal(1).scaleb(-t.scale))
    if t.kind == "double":
        return float(v)
    if t.kind == "list":
        assert t.item is not None
        return [_value(t.item, x) for x in v]
    if t.kind == "struct":
        return {n: _value(f, v.get(n)) for n, f in t.fields}
    return v
