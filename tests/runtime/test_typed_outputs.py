"""Typed answers (``returns =>``, ``llm_classify``, ``llm_score``) from a random-weight model:
every answer parses into the declared type, whatever the weights say, because decoding is
constrained by the type's grammar."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_helpers import ITEMS

import heliumsql

from heliumsql.engine import SamplingParams
from heliumsql.errors import BindError
from heliumsql.result_cache import CacheSession
from heliumsql.output_types import _worst_bytes, parse_output_type

SCALARS = st.sampled_from(["BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DATE", "VARCHAR"]) | st.builds(
    lambda p, s: f"DECIMAL({p},{min(s, p)})", st.integers(1, 38), st.integers(0, 10))
NAMES = st.sampled_from(["name", "age", "tags", "score", "day", "ok", "\"when\""])


def _types(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = inner.map(lambda t: f"{t}[]")
    structs = st.lists(st.tuples(NAMES, inner), min_size=1, max_size=3,
                       unique_by=lambda f: f[0]).map(
        lambda fs: "STRUCT(" + ", ".join(f"{n} {t}" for n, t in fs) + ")")
    return lists | structs


TYPES = st.recursive(SCALARS, _types, max_leaves=5)


@contextmanager
def _connection(engine: Any) -> Iterator[heliumsql.connection.Connection]:
    """A connection over ``items`` closed after one hypothesis example (not after the test:
    hundreds of examples would otherwise hold hundreds of connections)."""
    con = heliumsql.connect(engine=engine, result_cache=None)
    try:
        con.sql(ITEMS)
        yield con
    finally:
        con.close()


def _python_type_ok(t: Any, value: Any) -> bool:
    """``value`` (as DuckDB returns it) is a complete, non-NULL value of the OutputType ``t``."""
    if value is None:
        return False
    expected = {"boolean": bool, "integer": int, "bigint": int, "double": float,
                "decimal": decimal.Decimal, "date": datetime.date, "varchar": str}
    if t.kind in expected:
        return isinstance(value, expected[t.kind]) and (t.kind != "integer" or not isinstance(value, bool))
    if t.kind == "list":
        return isinstance(value, list) and all(_python_type_ok(t.item, v) for v in value)
    return isinstance(value, dict) and list(value) == [n for n, _ in t.fields] and all(
        _python_type_ok(f, value[n]) for n, f in t.fields)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(type_text=TYPES, temperature=st.sampled_from([0.0, 1.0]))
def test_every_answer_parses_into_the_declared_type(shared_engine, type_text, temperature):
    declared = parse_output_type(type_text)
    max_tokens = max(96, _worst_bytes(declared, 0, 0) + 1)  # big types need more than 96
    with _connection(shared_engine) as con:
        rows = con.sql(f"SELECT llm('Describe {{name}}', returns => '{type_text}', "
                       f"max_tokens => {max_tokens}, temperature => {temperature}) AS r, typeof(r) "
                       "FROM items WHERE id <= 3").fetchall()
    assert len(rows) == 3
    for value, typeof in rows:
        assert typeof == declared.sql
        assert _python_type_ok(declared, value), (type_text, value)


def test_null_only_for_a_too_long_prompt_with_on_error_null(shared_engine, connect):
    con = connect(shared_engine)
    rows = con.sql(f"SELECT id, llm('About {{name}} ' || CASE WHEN id = 1 THEN repeat('x', "
                   f"{shared_engine.max_context * 4}) ELSE '' END, returns => 'STRUCT(a INTEGER)', "
                   "on_error => 'null') AS r FROM items WHERE id <= 3 ORDER BY id").fetchall()
    assert rows[0][1] is None and all(isinstance(r["a"], int) for _, r in rows[1:])


def test_struct_fields_work_with_dot_and_unnest(shared_engine, connect):
    con = connect(shared_engine)
    rows = con.sql("""
        WITH x AS (SELECT id, llm('Extract from {descr}', returns => 'STRUCT(name VARCHAR, tags INTEGER[])')
                   AS r FROM items WHERE id <= 4)
        SELECT id, r.name, unnest(r.tags) AS tag FROM x""").fetchall()
    assert all(isinstance(name, str) and isinstance(tag, int) for _, name, tag in rows)
    counts = con.sql("""SELECT id, len(r.tags) FROM (SELECT id, llm('Extract from {descr}',
                        returns => 'STRUCT(name VARCHAR, tags INTEGER[])') AS r FROM items WHERE id <= 4)
                        ORDER BY id""").fetchall()
    assert len(rows) == sum(n for _, n in counts)


def test_llm_map_struct_answer_is_one_column_per_field(shared_engine, connect):
    result = connect(shared_engine).sql(
        "SELECT * FROM llm_map((SELECT id, name FROM items WHERE id <= 3), 'About {name}', "
        "returns => 'STRUCT(color VARCHAR, sweet BOOLEAN, price DECIMAL(5,2))')")
    assert result.columns == ["id", "name", "color", "sweet", "price"]
    assert [str(t) for t in result.types][2:] == ["VARCHAR", "BOOLEAN", "DECIMAL(5,2)"]
    rows = result.fetchall()
    assert len(rows) == 3 and all(v is not None for row in rows for v in row)


def test_llm_map_scalar_answer_has_its_type(shared_engine, connect):
    result = connect(shared_engine).sql(
        "SELECT * FROM llm_map((SELECT id FROM items WHERE id <= 2), 'Count {id}', returns => 'BIGINT', n => 2)")
    assert [str(t) for t in result.types] == ["INTEGER", "BIGINT", "INTEGER"]
    assert all(isinstance(v, int) for _, v, _ in result.fetchall())


def test_llm_classify_answers_are_labels(shared_engine, connect):
    labels = ["bug", "feature", "question"]
    con = connect(shared_engine)
    rows = con.sql("SELECT llm_classify('Ticket: {descr}', ['bug', 'feature', 'question'], "
                   "temperature => 1.0) AS c, typeof(c) FROM items").fetchall()
    assert len(rows) == 10 and all(c in labels and t == "VARCHAR" for c, t in rows)
    described = con.sql("SELECT llm_classify('Ticket: {descr}', {'bug': 'something is broken', "
                        "'wish': 'a new feature'}) FROM items").fetchall()
    assert all(c in ("bug", "wish") for (c,) in described)


def test_llm_classify_multi_gives_a_subset(shared_engine, connect):
    rows = connect(shared_engine).sql(
        "SELECT llm_classify('Fruit: {descr}', MAP {'red': 'its color is red', 'sweet': 'tastes sweet', "
        "'small': 'fits in a hand'}, multi => true, temperature => 1.0) AS c, typeof(c) FROM items").fetchall()
    for labels, typeof in rows:
        assert typeof == "VARCHAR[]"
        assert labels and set(labels) <= {"red", "sweet", "small"} and len(set(labels)) == len(labels)


@pytest.mark.parametrize("low,high", [(1, 5), (-3, 3), (0, 100)])
def test_llm_score_is_within_bounds(shared_engine, connect, low, high):
    rows = connect(shared_engine).sql(
        f"SELECT llm_score('Rate {{descr}}', {low}, {high}, temperature => 1.0) AS s, typeof(s) "
        "FROM items").fetchall()
    assert len(rows) == 10 and all(low <= s <= high and t == "INTEGER" for s, t in rows)


def test_format_instructions_are_a_shared_static_prefix(shared_engine, connect):
    plan = connect(shared_engine).sql(
        "EXPLAIN SELECT llm_classify('Ticket: {descr}', ['bug', 'feature']) FROM items").fetchall()[0][0]
    assert "returns  VARCHAR" in plan
    prefix = next(line for line in plan.splitlines() if line.strip().startswith("Prefix"))
    assert "Classify the text below" in prefix


def test_explain_shows_the_declared_type(shared_engine, connect):
    plan = connect(shared_engine).sql(
        "EXPLAIN SELECT llm('About {name}', returns => 'STRUCT(a INT, b VARCHAR[])') FROM items").fetchall()[0][0]
    assert "    returns  STRUCT(a INTEGER, b VARCHAR[])" in plan.splitlines()


TYPED_QUERIES = [
    "SELECT id, llm('About {name}', returns => 'STRUCT(color VARCHAR, n INTEGER)', max_tokens => 48) AS r "
    "FROM items WHERE id > 2",
    "SELECT name, llm_score('Rate {name}', 1, 5) AS s, llm_classify('Kind of {descr}', ['fruit', 'berry']) AS k "
    "FROM items",
    """WITH x AS (SELECT id, llm('Tag of {descr}', returns => 'STRUCT(tag VARCHAR, n INTEGER[])',
                                max_tokens => 60) AS r FROM items)
       SELECT id, r.tag, llm_score('Rate {tag}', 0, 9) AS s FROM (SELECT id, r, r.tag AS tag FROM x)""",
    "SELECT * FROM llm_map((SELECT DISTINCT name FROM items), 'About {name}', "
    "returns => 'STRUCT(ok BOOLEAN, d DATE)')",
]


@pytest.mark.parametrize("query", TYPED_QUERIES, ids=["struct", "classify_score", "pipeline", "map"])
def test_optimizer_on_and_off_give_the_same_typed_rows(shared_engine, connect, query):
    on = connect(shared_engine).sql(query).fetchall()
    off = connect(shared_engine, optimize=False).sql(query).fetchall()
    assert on and sorted(on, key=repr) == sorted(off, key=repr)


@pytest.mark.parametrize("call,message", [
    ("llm('x {name}', returns => 'INTEGR')", "returns => 'INTEGR' is not a supported type"),
    ("llm('x {name}', returns => 'MAP(VARCHAR, INT)')", "supported: BOOLEAN"),
    ("llm('x {name}', returns => 'INTEGER); SELECT 1; --')", "not a supported type"),
    ("llm('x {name}', returns => 'STRUCT(a VARCHAR, b INT[])', max_tokens => 8)", "max_tokens => 8 is too small"),
    ("llm('x {name}', returns => 'INTEGER', stop => ['}'])", "stop => is not allowed on a typed call"),
    ("llm_classify('x {name}', ['only'])", "at least two distinct"),
    ("llm_classify('x {name}', name)", "must be a list literal"),
    ("llm_classify('x {name}', ['a', 'b'], max_tokens => 2)", "max_tokens => 2 is too small"),
    ("llm_score('x {name}', 5, 1)", "low (5) must be less than high (1)"),
    ("llm_score('x {name}', 1)", "needs a range"),
])
def test_bad_typed_calls_are_bind_errors(shared_engine, connect, call, message):
    with pytest.raises(BindError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        connect(shared_engine).sql(f"SELECT {call} FROM items")


def test_result_cache_keys_include_the_answer_type(shared_engine, connect, tmp_path):
    con = connect(shared_engine, result_cache=tmp_path / "results.duckdb")
    first = con.sql("SELECT llm('Rate {name}', returns => 'INTEGER', max_tokens => 16) FROM items")
    assert first.analyze.engine_requests == 8
    again = con.sql("SELECT llm('Rate {name}', returns => 'INTEGER', max_tokens => 16) FROM items")
    assert again.analyze.result_cache_hits == 8 and again.fetchall() == first.fetchall()
    # Same prompt tokens, other type: a new key, never the INTEGER answer read as a DATE.
    schemas = (None, '{"type": "integer"}', '{"type": "string", "format": "date"}')
    keys = {CacheSession.key("m", [1, 2, 3], SamplingParams(max_tokens=16, json_schema=s), 0)
            for s in schemas}
    assert len(keys) == 3


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(type_text=TYPES, extra=st.integers(0, 40))
def test_a_tight_max_tokens_still_closes_every_answer(shared_engine, type_text, extra):
    """The smallest budget binding allows (plus a little): the grammar's length bounds close
    the value in time, with a byte-level tokenizer (the worst case: a token per byte)."""
    declared = parse_output_type(type_text)
    need = _worst_bytes(declared, 0, 0) + 1  # the least max_tokens the binder accepts
    with _connection(shared_engine) as con:
        with pytest.raises(BindError, match="too small"):
            con.sql(f"EXPLAIN SELECT llm('x', returns => '{type_text}', max_tokens => {need - 1})")
        rows = con.sql(
            f"SELECT llm('Describe {{name}}', returns => '{type_text}', max_tokens => {need + extra}, "
            "temperature => 1.0) AS r FROM items WHERE id <= 2").fetchall()
    assert all(_python_type_ok(declared, value) for (value,) in rows), (type_text, rows)
