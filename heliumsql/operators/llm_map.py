"""``llm(...)``: one answer (VARCHAR) per distinct rendered prompt."""

from __future__ import annotations

from heliumsql.operators.base import LlmOperator


class LlmMapOperator(LlmOperator):
    """The scalar LLM operator (EXPLAIN: ``LLMMap``); everything is in :class:`LlmOperator`.

    >>> LlmMapOperator(node, context).execute()      # doctest: +SKIP
    """
