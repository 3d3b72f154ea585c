"""Expression classes for the LLM functions, so plans can find calls by type instead of by name.

Every call keeps its arguments in source order in ``expressions`` (positional arguments, then
``exp.Kwarg`` for ``name => value``); :mod:`heliumsql.grammar.functions` interprets them.

>>> import sqlglot, heliumsql.grammar
>>> type(sqlglot.parse_one("SELECT llm('hi {x}') FROM t", read="helium").expressions[0]).__name__
'Llm'
"""

from __future__ import annotations

from sqlglot import exp


class LlmFunc(exp.Expression, exp.Func):
    """Base of every LLM call; ``expressions`` holds the arguments as written."""

    arg_types = {"expressions": False}
    is_var_len_args = True

    @property
    def function_name(self) -> str:
        return self.sql_names()[0].lower()


class Llm(LlmFunc):
    """``llm(template, ...)`` -> VARCHAR, one call per row."""


class LlmFilter(LlmFunc):
    """``llm_filter(template, ...)`` -> BOOLEAN, the model answers yes or no."""


class LlmAgg(LlmFunc, exp.AggFunc):
    """``llm_agg(template, ...)`` -> VARCHAR, one call per group."""


class LlmMap(LlmFunc):
    """``llm_map(TABLE t | (subquery), template, ...)`` -> the input rows plus an output column."""


class LlmClassify(LlmFunc):
    """``llm_classify(template, labels, multi => false)`` -> VARCHAR (VARCHAR[] with multi)."""


class LlmScore(LlmFunc):
    """``llm_score(template, low, high)`` -> INTEGER in [low, high]."""


class LlmEmbed(LlmFunc):
    """``llm_embed(text, model => PATH)`` -> FLOAT[d], the text's embedding vector."""


class LlmSearch(LlmFunc):
    """``llm_search(TABLE t | (subquery), 'query', column => 'v', k => 10)`` -> the k rows of t
    whose vector column is most similar to the query's embedding, plus ``score``."""


class TableArg(exp.Expression):
    """``TABLE t`` passed as a function argument (``this`` is the ``exp.Table``)."""

    arg_types = {"this": True}


LLM_FUNCTIONS: tuple[type[LlmFunc], ...] = (Llm, LlmFilter, LlmAgg, LlmMap, LlmClassify, LlmScore,
                                            LlmEmbed, LlmSearch)
