"""``llm_filter(..., strategy => 'classify')`` in ``JOIN ... ON``: one constrained multi-label
prompt per distinct left-row question, listing the right side's distinct values as options;
a pair's verdict is whether its left row's answer lists its right value (see
:mod:`heliumsql.plan.join_classify` for the question and why it is opt-in)."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.errors import ExecutionError
from heliumsql.operators.base import Key, LlmOperator, cut, excerpt
from heliumsql.grammar.typed_calls import canonical_schema
from heliumsql.plan.join_classify import answer_schema, instruction, max_answer_tokens, split_key
from heliumsql.workflow.request import LlmRequest

if TYPE_CHECKING:
    from heliumsql.query_objects import QueryObjects


class LlmJoinClassify(LlmOperator):
    """Answers BOOLEAN per pair key; asks the model once per question (left row).

    >>> LlmJoinClassify(node, context).materialize()   # doctest: +SKIP
    """

    output_type = pa.bool_()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: list[str] = []
        self._pairs: list[str] = []

    def prompt_for(self, question: str) -> str:
        return instruction(self.options) + question

    def sampling_params(self, prompt: str, sample: int) -> SamplingParams:
        return SamplingParams(max_tokens=max_answer_tokens(self.options),
                              json_schema=canonical_schema(answer_schema(self.options)))

    def decode(self, completion: Completion) -> Any:
        try:
            value = json.loads(completion.text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return frozenset(v for v in value if isinstance(v, str))
        # Unreachable under the grammar; a backend that ignores json_schema lands here.
        if self.node.call.option("on_error") == "null":
            return None
        raise ExecutionError(f"{self.name} ({cut(self.node.call.text)}): the answer "
                             f"{excerpt(completion.text)} is not a JSON list of options; pass "
                             "on_error => 'null' to get NULL instead")

    def materialize(self, asked: Collection[Key] = frozenset()) -> list[LlmRequest]:
        """One request per distinct question among the candidate pairs."""
        self._started = time.perf_counter()
        rows = self.read_keys()
        self.row_prompts = [p for p, _ in rows]
        self._pairs = list(dict.fromkeys(self.row_prompts))
        split = [split_key(p) for p in self._pairs]
        self.options = sorted({value for _, value in split if value})
        questions = dict.fromkeys(q for q, _ in split) if self.options else {}
        keys = [(self.prompt_for(q), 0) for q in questions]
        self._keys = keys
        self.stats.distinct_prompts += len(keys)
        self.stats.distinct_pairs = len(self._pairs)
        requests = self.requests_for(keys)
        self.num_expected += len(requests)
        self._report(force=not requests)
        return requests

    def verdict(self, pair: str) -> bool | None:
        """Whether the pair's left row listed its right value (NULL value or answer: NULL)."""
        question, value = split_key(pair)
        listed = self.answers.get((self.prompt_for(question), 0))
        if value is None or (listed is None and self.options):
            return None
        return listed is not None and value in listed

    def publish(self, objects: "QueryObjects") -> None:
        objects.store(self.node.id, {p: self.verdict(p) for p in self._pairs})
        self.stats.rows_out += len(self._pairs)

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        """Pairs the statement met outside the candidates: their questions are asked now
        (with the candidates' options; a value that is not one of them never matches)."""
        start = time.perf_counter()
        keys = [(self.prompt_for(split_key(p)[0]), 0) for p in prompts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.answers)) \
            if self.options else []
        self.stats.on_demand_prompts += len(missing)
        self.answers.update(self.compute(missing))
        self.stats.elapsed_s += time.perf_counter() - start
        return {p: self.verdict(p) for p in prompts}
