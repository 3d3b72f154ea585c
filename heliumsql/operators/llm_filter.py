"""``llm_filter(...)``: the model picks "yes" or "no" (constrained, never parsed from free text)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.operators.base import LlmOperator

CHOICES = ("yes", "no", "Yes", "No")


class LlmFilterOperator(LlmOperator):
    """Answers BOOLEAN: True for "yes"/"Yes", False for "no"/"No".

    >>> LlmFilterOperator(node, context).execute()   # doctest: +SKIP
    """

    output_type = pa.bool_()

    def sampling_params(self, prompt: str, sample: int) -> SamplingParams:
        return SamplingParams(max_tokens=8, choices=CHOICES)

    def decode(self, completion: Completion) -> Any:
        if completion.choice is None:
            return None
        return CHOICES[completion.choice].lower() == "yes"
