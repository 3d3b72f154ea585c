"""The catalog checks LLM call arguments and fills in defaults."""

from __future__ import annotations

import pytest
import sqlglot

import heliumsql.grammar  # noqa: F401
from heliumsql.errors import BindError
from heliumsql.grammar.functions import FUNCTIONS, bind_arguments
from heliumsql.grammar.templates import Template


def args_of(call_sql: str):  # noqa: ANN201
    tree = sqlglot.parse_one(f"SELECT * FROM t WHERE {call_sql}" if "filter" in call_sql
                             else f"SELECT {call_sql}", read="helium")
    from heliumsql.grammar import LlmFunc

    return bind_arguments(tree.find(LlmFunc))


def test_defaults() -> None:
    a = args_of("llm('Hi {x}')")
    assert isinstance(a.prompt, Template) and a.template.columns == ("x",)
    assert a.option("max_tokens") == 64 and a.option("temperature") == 0.0
    assert a.option("on_error") == "raise" and a.option("stop") == ()


def test_all_options_typed() -> None:
    a = args_of("llm('x', max_tokens => 3, temperature => 1, top_p => 0.5, top_k => 7, "
                "stop => ['a', 'b'], seed => -1, system => 's', on_error => 'null', model => 'm')")
    assert dict(a.options) == dict(model="m", max_tokens=3, temperature=1.0, top_p=0.5, top_k=7,
                                   stop=("a", "b"), seed=-1, system="s", on_error="null")
    assert args_of("llm('x', stop => '.')").option("stop") == (".",)


def test_context_columns_and_non_literal_prompt() -> None:
    a = args_of("llm('a' || y, b, c AS d, e + 1)")
    assert a.template is None
    assert [name for name, _ in a.context] == ["b", "d", "e + 1"]


def test_llm_map_source_and_options() -> None:
    a = args_of("1 FROM llm_map(TABLE t, 'x {a}', as => 'o', n => 3)")
    assert a.source is not None and a.option("as") == "o" and a.option("n") == 3


@pytest.mark.parametrize(("call", "message"), [
    ("llm('x', max_tokens => 'x')", r"llm\(\): argument max_tokens => 'x' must be a literal integer"),
    ("llm('x', max_tokens => y)", "max_tokens => y must be a literal integer, not an expression"),
    ("llm('x', max_tokens => 0)", "max_tokens => 0 must be at least 1"),
    ("llm('x', temperature => 'hot')", "temperature => 'hot' must be a literal number"),
    ("llm('x', top_p => 2)", "top_p => 2 must be at most 1"),
    ("llm('x', stop => [1])", "stop => 1 must be a literal string"),
    ("llm('x', on_error => 'skip')", "must be one of 'raise', 'null'"),
    ("llm('x', colour => 1)", "llm\\(\\) has no argument named 'colour'"),
    ("llm('x', seed => 1, seed => 2)", "seed is given twice"),
    ("llm_filter('x', max_tokens => 3)", "llm_filter\\(\\) has no argument named 'max_tokens'"),
    ("llm()", r"llm\(\) needs a prompt"),
    ("llm_agg(max_tokens => 3)", r"llm_agg\(\) needs a prompt"),
])
def test_argument_errors_name_function_and_argument(call: str, message: str) -> None:
    with pytest.raises(BindError, match=message):
        args_of(call)


def test_llm_map_needs_a_relation_first() -> None:
    tree = sqlglot.parse_one("SELECT * FROM llm_map('x {a}')", read="helium")
    from heliumsql.grammar import LlmMap

    with pytest.raises(BindError, match="input relation first"):
        bind_arguments(tree.find(LlmMap))


def test_catalog_kinds() -> None:
    assert {n: f.kind for n, f in FUNCTIONS.items()} == {
        "llm": "scalar", "llm_filter": "filter", "llm_agg": "aggregate", "llm_map": "table",
        "llm_classify": "scalar", "llm_score": "scalar", "llm_embed": "embed",
        "llm_search": "search"}
    assert FUNCTIONS["llm_filter"].returns == "BOOLEAN"
