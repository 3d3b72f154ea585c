"""The helium dialect parses LLM calls into their own classes and prints them back the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import heliumsql.grammar  # noqa: F401 - registers the dialect
from heliumsql.grammar import Llm, LlmAgg, LlmFilter, LlmMap, TableArg

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dialect" / "helium.sql"


def cases() -> list[tuple[str, str]]:
    lines = [l for l in FIXTURE.read_text().splitlines() if not l.startswith("--")]
    blocks = "\n".join(lines).split("\n\n")
    out = []
    for block in blocks:
        rows = [r for r in block.strip().splitlines() if r.strip()]
        if rows:
            out.append((rows[0], rows[-1]))
    return out


@pytest.mark.parametrize(("sql", "expected"), cases())
def test_round_trip(sql: str, expected: str) -> None:
    tree = sqlglot.parse_one(sql, read="helium")
    assert tree.sql("helium") == expected
    assert sqlglot.parse_one(expected, read="helium") == tree


def test_calls_parse_into_dedicated_classes() -> None:
    tree = sqlglot.parse_one(
        "SELECT llm('a'), llm_agg('b') FROM llm_map(TABLE t, 'c', as => 'o') WHERE llm_filter('d')",
        read="helium")
    found = sorted(type(c).__name__ for c in tree.find_all(Llm, LlmAgg, LlmFilter, LlmMap))
    assert found == ["Llm", "LlmAgg", "LlmFilter", "LlmMap"]
    assert isinstance(tree.find(LlmAgg), exp.AggFunc)
    table_map = tree.find(LlmMap)
    assert isinstance(table_map.expressions[0], TableArg)
    kwarg = table_map.expressions[2]
    assert isinstance(kwarg, exp.Kwarg) and kwarg.this.name == "as"


def test_other_functions_are_untouched() -> None:
    tree = sqlglot.parse_one("SELECT llm_other(1), upper(x)", read="helium")
    assert tree.find(Llm) is None and isinstance(tree.find(exp.Anonymous), exp.Anonymous)


@pytest.mark.parametrize("sql", ["SELECT llm('x' FROM t", "SELECT llm('x', max_tokens =>)",
                                 "SELECT * FROM llm_map(TABLE, 'x')"])
def test_malformed_calls_are_syntax_errors(sql: str) -> None:
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse_one(sql, read="helium")
