"""``llm_agg(...)``: one answer per group; the input query already renders one prompt per group."""

from __future__ import annotations

from heliumsql.operators.base import LlmOperator


class LlmAgg(LlmOperator):
    """The aggregate LLM operator (EXPLAIN: ``LlmAgg``). DuckDB groups the rows and
    renders each group's values into the prompt, so per prompt it works like ``llm``.

    >>> LlmAgg(node, context).execute()   # doctest: +SKIP
    """
