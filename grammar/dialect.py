"""The ``helium`` sqlglot dialect: DuckDB SQL plus the LLM functions.

Importing this module registers the dialect, so ``read="helium"`` works everywhere.

>>> import sqlglot, heliumsql.grammar
>>> sqlglot.transpile("select llm('Hi {name}', max_tokens => 8) from people", read="helium", write="helium")[0]
"SELECT LLM('Hi {name}', max_tokens => 8) FROM people"
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.tokens import TokenType

from heliumsql.grammar.expressions import LLM_FUNCTIONS, LlmFunc, TableArg


def _parse_llm_args(parser: "Helium.Parser") -> list[exp.Expr]:
    """Arguments of an LLM call: ``TABLE t``, ``name => value`` (any word, even ``as``), or an
    expression (optionally aliased: the alias names a context column)."""
    args: list[exp.Expr] = []
    if parser._curr is None or parser._curr.token_type == TokenType.R_PAREN:
        return args
    while True:
        if parser._next is not None and parser._next.token_type == TokenType.FARROW:
            name = parser._curr.text
            parser._advance(2)
            value = parser._parse_disjunction() or parser._parse_select()
            if value is None:
                parser.raise_error(f"Expected a value after {name} =>")
            args.append(exp.Kwarg(this=exp.var(name), expression=value))
        elif parser._match(TokenType.TABLE):
            table = parser._parse_table_parts()
            if table is None:
                parser.raise_error("Expected a table name after TABLE")
            args.append(TableArg(this=table))
        else:
            arg = parser._parse_lambda(alias=True)
            if arg is None:
                parser.raise_error("Expected an argument")
            args.append(arg)
        if not parser._match(TokenType.COMMA):
            # The caller consumes ")" leniently; insist on it so "llm('x' FROM t" is an error.
            if parser._curr is None or parser._curr.token_type != TokenType.R_PAREN:
                parser.raise_error("Expecting )")
            return args


def display_sql(expression: exp.Expr) -> str:
    """SQL text for people (EXPLAIN, error messages): one line, function names lower case.

    >>> import sqlglot
    >>> display_sql(sqlglot.parse_one("SELECT LLM('Hi {x}') FROM t", read="helium"))
    "SELECT llm('Hi {x}') FROM t"
    """
    return expression.sql("helium", normalize_functions="lower")


def _llm_parser(cls: type[LlmFunc]):  # noqa: ANN202
    return lambda self: self.expression(cls(expressions=_parse_llm_args(self)))


def _llm_sql(generator: "Helium.Generator", expression: LlmFunc) -> str:
    return generator.func(expression.sql_names()[0], *expression.expressions)


class Helium(DuckDB):
    """DuckDB's dialect with ``llm``, ``llm_filter``, ``llm_agg`` and ``llm_map``."""

    class Tokenizer(DuckDB.Tokenizer):
        pass

    class Parser(DuckDB.Parser):
        FUNCTION_PARSERS = {
            **DuckDB.Parser.FUNCTION_PARSERS,
            **{cls.sql_names()[0]: _llm_parser(cls) for cls in LLM_FUNCTIONS},
        }

    class Generator(DuckDB.Generator):
        TRANSFORMS = {
            **DuckDB.Generator.TRANSFORMS,
            **{cls: _llm_sql for cls in LLM_FUNCTIONS},
            TableArg: lambda self, e: f"TABLE {self.sql(e, 'this')}",
        }
