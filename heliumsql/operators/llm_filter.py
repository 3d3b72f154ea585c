"""``llm_filter(...)``: the model picks "yes" or "no" (constrained, never parsed from free text)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.operators.base import LlmOperator
from heliumsql.sampling import filter_params, filter_verdict


class LlmFilter(LlmOperator):
    """Answers BOOLEAN: True for "yes"/"Yes", False for "no"/"No".

    >>> LlmFilter(node, context).execute()   # doctest: +SKIP
    """

    output_type = pa.bool_()
    # Set by an adaptive filter chain: what prompts it never asked answer (the value that
    # rejects the row; see heliumsql.plan.physical.chains). None: compute them on demand.
    uncomputed_answer: bool | None = None

    def sampling_params(self, prompt: str, sample: int) -> SamplingParams:
        return filter_params()

    def decode(self, completion: Completion) -> Any:
        return filter_verdict(completion.choice)

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        # Once the node's LIMIT has its rows, prompts after them are never computed: the
        # statement's LIMIT is already satisfied by the rows that passed (see FilterLimit).
        if self.limit_reached:
            return dict.fromkeys(prompts, False)
        if self.uncomputed_answer is not None:
            return dict.fromkeys(prompts, self.uncomputed_answer)
        return super().compute_missing(prompts)
