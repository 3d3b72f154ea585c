"""``llm_filter(...)``: the model picks "yes" or "no" (constrained where the backend can; a
remote backend that could only read a free answer marks one that names no choice, and the
filter raises for it, naming the row, or gives NULL with ``on_error => 'null'``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.errors import ExecutionError
from heliumsql.operators.base import LlmOperator, cut, excerpt
from heliumsql.sampling import UNPARSED_CHOICE, filter_params, filter_verdict


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

    def decode_row(self, prompt: str, completion: Completion) -> Any:
        if completion.finish_reason == UNPARSED_CHOICE and self.node.call.option("on_error") != "null":
            raise ExecutionError(
                f"{self.name} ({cut(self.node.call.text)}): the answer {excerpt(completion.text)} "
                f"to the row whose prompt is {excerpt(prompt)} is neither yes nor no; pass "
                "on_error => 'null' to get NULL for such rows")
        return self.decode(completion)

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        # Once the node's LIMIT has its rows, prompts after them are never computed: the
        # statement's LIMIT is already satisfied by the rows that passed (see FilterLimit).
        if self.limit_reached:
            return dict.fromkeys(prompts, False)
        if self.uncomputed_answer is not None:
            return dict.fromkeys(prompts, self.uncomputed_answer)
        return super().compute_missing(prompts)
