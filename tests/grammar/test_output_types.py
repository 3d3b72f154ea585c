"""DuckDB types as bounded JSON schemas: the longest answer a schema admits fits max_tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliumsql.errors import BindError
from heliumsql.output_types import _worst_bytes, json_schema, parse_output_type

TYPES = st.recursive(
    st.sampled_from(["BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DATE", "VARCHAR", "DECIMAL(9,3)"]),
    lambda inner: inner.map(lambda t: f"{t}[]") | st.lists(inner, min_size=1, max_size=3).map(
        lambda ts: "STRUCT(" + ", ".join(f"f{i} {t}" for i, t in enumerate(ts)) + ")"),
    max_leaves=6)


def _bounds(schema: object) -> tuple[int, int]:
    """(maxLength, maxItems) the schema gives its strings and lists (-1 when it has none)."""
    if isinstance(schema, list):
        found = [_bounds(v) for v in schema]
    elif isinstance(schema, dict):
        found = [_bounds(v) for v in schema.values()]
        found.append((schema.get("maxLength", -1), schema.get("maxItems", -1)))
    else:
        return -1, -1
    return max(c for c, _ in found), max(i for _, i in found)


@settings(max_examples=200, deadline=None)
@given(type_text=TYPES, max_tokens=st.integers(1, 600))
def test_the_longest_admitted_answer_fits_max_tokens_or_binding_fails(type_text, max_tokens):
    t = parse_output_type(type_text)
    try:
        schema = json_schema(t, max_tokens)
    except BindError as exc:
        assert f"max_tokens => {max_tokens} is too small" in str(exc)
        assert _worst_bytes(t, 0, 0) + 1 > max_tokens
        return
    chars, items = _bounds(schema)
    assert _worst_bytes(t, max(chars, 0), max(items, 0)) + 1 <= max_tokens


@pytest.mark.parametrize("text,canonical", [
    ("INT", "INTEGER"), ("string[]", "VARCHAR[]"), ("DECIMAL(10, 2)", "DECIMAL(10,2)"),
    ("STRUCT(a INT, b STRUCT(c DATE[]))", "STRUCT(a INTEGER, b STRUCT(c DATE[]))"),
])
def test_types_are_named_as_duckdb_names_them(text, canonical):
    assert parse_output_type(text).sql == canonical


@pytest.mark.parametrize("text", ["MAP(VARCHAR, INT)", "TIMESTAMP", "UUID", "INTEGER[3]", "x); DROP TABLE t; --"])
def test_unsupported_types_are_bind_errors_listing_what_is_supported(text):
    with pytest.raises(BindError, match="supported: BOOLEAN, INTEGER, BIGINT, DOUBLE"):
        parse_output_type(text)


def test_date_answers_are_exactly_the_real_calendar_dates():
    import datetime
    import re

    pattern = re.compile(json_schema(parse_output_type("DATE"), 16)["pattern"])
    for year in [0, 1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 2100, 9999]:
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    datetime.date(year, month, day)
                    real = True
                except ValueError:
                    real = False
                assert bool(pattern.match(text)) == real, text
