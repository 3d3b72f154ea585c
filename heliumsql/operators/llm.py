"""``llm(...)``: one answer (VARCHAR) per distinct rendered prompt."""

from __future__ import annotations

from heliumsql.operators.base import LlmOperator


class Llm(LlmOperator):
    """The scalar LLM operator (EXPLAIN: ``Llm``); everything is in :class:`LlmOperator`.

    >>> Llm(node, context).execute()      # doctest: +SKIP
    """
