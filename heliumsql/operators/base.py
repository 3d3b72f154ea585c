"""What every LLM operator shares: read prompts from DuckDB, turn them into requests
(deduplicated, chat-formatted, length-checked), take answers back, keep figures, report
progress, and publish the answers where the query's UDF or table finds them.

The workflow runtime (:mod:`heliumsql.workflow`) decides when and in which order requests
reach the engine, across operators; an operator only says what it needs (``materialize``)
and what an answer means (``accept``).

>>> op = Llm(node, context)                      # doctest: +SKIP
>>> requests = op.materialize()  # the runtime delivers op.accept(...)  # doctest: +SKIP
>>> op.publish(objects)                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from heliumsql.engine.interface import EngineBackend
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.errors import ExecutionError
from heliumsql.grammar.typed_calls import schema_text
from heliumsql.output_types import OutputType, arrow_type, decode_json, parse_output_type
from heliumsql.plan.nodes import LlmNode
from heliumsql.progress import Progress, ProgressCallback
from heliumsql.prompting import chat_token_ids
from heliumsql.sampling import REQUEST_FAILED, sampling_params
from heliumsql.stats import OperatorStats
from heliumsql.workflow.request import LlmRequest, open_stream

if TYPE_CHECKING:
    from heliumsql.embedding_model import EmbeddingModels
    from heliumsql.query_objects import QueryObjects
    from heliumsql.result_cache import CacheSession
    from heliumsql.vector_search import VectorIndexes

_EXCERPT = 80
Key = tuple[str, int]
# Answers requests now (on-demand work): (completion, source) per request, in order.
RunNow = Callable[[Sequence[LlmRequest]], list[tuple[Completion, str]]]


@dataclass
class OperatorContext:
    """What operators need from the session: DuckDB, the engine, progress, batch size, and who
    answers on-demand requests (the query's dispatcher)."""

    con: duckdb.DuckDBPyConnection
    engine: EngineBackend
    progress: ProgressCallback | None = None
    batch_size: int = 512
    read_batch_rows: int = 8192
    run_now: RunNow | None = None
    # llm_embed / llm_search: the connection's embedding models and vector indexes, and the
    # query's result-cache session (embeddings are cached there too).
    embeddings: EmbeddingModels | None = None
    indexes: VectorIndexes | None = None
    cache: CacheSession | None = None


def cut(text: str) -> str:
    """``text`` cut to its first 80 characters (marked with …)."""
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def excerpt(text: str) -> str:
    return repr(cut(text))


def _stream_now(engine: EngineBackend) -> RunNow:
    def run(requests: Sequence[LlmRequest]) -> list[tuple[Completion, str]]:
        out = sorted(open_stream(engine, requests), key=lambda c: c.index)
        return [(c, "engine") for c in out]

    return run


class LlmOperator:
    """Base of the per-prompt operators; subclasses set the output type and decode answers."""

    output_type: pa.DataType = pa.string()

    def __init__(self, node: LlmNode, context: OperatorContext, input_sql: str | None = None
                 ) -> None:
        # The physical plan renders the input SQL once; standalone use renders it here.
        self.node, self.context = node, context
        if input_sql is None and node.input is not None:
            input_sql = node.input.sql("duckdb")
        self.input_sql = input_sql
        self.stats = OperatorStats(f"{node.operator} #{node.id}")
        self.answers: dict[Key, Any] = {}
        self.num_expected = 0  # requests materialize() handed out
        self.num_answered = 0
        self._keys: list[Key] = []
        self.row_prompts: list[str] = []  # each input row's prompt, in input order
        self.limit_reached = False
        self._token_cache: dict[str, list[int]] = {}
        self._last_progress = 0.0
        self._started = time.perf_counter()
        # A typed call (returns =>, llm_classify, llm_score): decoded under its JSON schema.
        options = dict(node.call.options)
        self.json_schema = schema_text(options)
        self.answer_type: OutputType | None = None
        if options.get("returns") is not None:
            self.answer_type = parse_output_type(options["returns"])
            self.output_type = arrow_type(self.answer_type)

    @property
    def name(self) -> str:
        return self.stats.operator

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("prompt", pa.string()), ("output", self.output_type)])

    @property
    def keys(self) -> list[Key]:
        """The (prompt, sample) answers the node needs (its input's, once materialised)."""
        return list(self._keys)

    @property
    def done(self) -> bool:
        """Every materialised request has its answer."""
        return self.num_answered >= self.num_expected

    # -- what subclasses specialise -------------------------------------------------------
    def sampling_params(self, prompt: str, sample: int) -> SamplingParams:
        return sampling_params(dict(self.node.call.options),
                               fingerprint=self.context.engine.fingerprint, prompt=prompt,
                               sample=sample, num_samples=self.node.num_samples,
                               json_schema=self.json_schema)

    def decode(self, completion: Completion) -> Any:
        if self.answer_type is None or self.json_schema is None:
            return completion.text
        try:
            value = decode_json(self.answer_type, completion.text)
        except (ValueError, TypeError, ArithmeticError) as exc:
            # Unreachable under the grammar; a backend that ignores json_schema lands here.
            if self.node.call.option("on_error") == "null":
                return None
            raise ExecutionError(
                f"{self.name} ({cut(self.node.call.text)}): the answer {excerpt(completion.text)} "
                f"is not a {self.answer_type.sql} ({exc}); pass on_error => 'null' to get NULL "
                "instead") from None
        if self.node.call.option("multi") and isinstance(value, list):
            value = list(dict.fromkeys(value))  # a label set: each label once, first mention order
        return value

    def decode_row(self, prompt: str, completion: Completion) -> Any:
        """``decode`` for the row whose prompt is ``prompt`` (named when the answer is bad)."""
        return self.decode(completion)

    def answer_of(self, prompt: str, completion: Completion) -> Any:
        """The row's value: ``decode_row``'s, or NULL for a request the backend never answered
        (only asked of a backend under ``on_error => 'null'``; otherwise it is an error)."""
        if completion.finish_reason != REQUEST_FAILED:
            return self.decode_row(prompt, completion)
        if self.node.call.option("on_error") == "null":
            return None
        raise ExecutionError(f"{self.name} ({cut(self.node.call.text)}): {completion.text}")

    def read_keys(self) -> list[Key]:
        """The (prompt, sample) answers the node's input needs; repeats kept unless deduped."""
        keys: list[Key] = []
        for batch in self.read_input():
            column = batch.column(0).to_pylist()
            self.stats.rows_in += len(column)
            keys.extend((p, 0) for p in column if p is not None)
        return keys

    def publish(self, objects: "QueryObjects") -> None:
        """Make the answers visible to the query (the node's UDF looks them up)."""
        objects.store(self.node.id, {prompt: answer for (prompt, _), answer in self.answers.items()})
        self.stats.rows_out += len({p for p, _ in self.answers})

    # -- planning the work ----------------------------------------------------------------
    def materialize(self, asked: Collection[Key] = frozenset()) -> list[LlmRequest]:
        """Read the input and return the requests to answer (possibly none); keys in
        ``asked`` were requested earlier (``request_now``) and are not asked again."""
        self._started = time.perf_counter()
        keys = self.read_keys()
        self.row_prompts = [p for p, s in keys if s == 0]
        if self.node.dedupe_prompts:
            keys = list(dict.fromkeys(keys))
        self._keys = keys
        fresh = [k for k in keys if k not in asked] if asked else keys
        self.stats.distinct_prompts += len(fresh)
        requests = self.requests_for(fresh)
        self.num_expected += len(requests)
        self._report(force=not requests)
        return requests

    def request_now(self, keys: Sequence[Key]) -> list[LlmRequest]:
        """Requests for ``keys`` asked outside ``materialize`` (a filter chain asks row by
        row, a pipelined node before its input is complete); counted like materialised ones,
        so ``done`` and progress stay right."""
        self._keys.extend(keys)
        self.stats.distinct_prompts += len(keys)
        requests = self.requests_for(keys)
        self.num_expected += len(requests)
        return requests

    def token_ids(self, prompt: str) -> list[int]:
        """The chat-formatted token ids of ``prompt`` (cached per operator)."""
        ids = self._token_cache.get(prompt)
        if ids is None:
            ids = self._token_cache[prompt] = chat_token_ids(
                self.context.engine.tokenizer, prompt, self.node.call.option("system"))
        return ids

    def requests_for(self, keys: Sequence[Key], lane: int | None = None) -> list[LlmRequest]:
        """Chat-format each key's prompt; a prompt longer than the context raises, or gets
        NULL with ``on_error => 'null'``."""
        engine = self.context.engine
        null_on_error = self.node.call.option("on_error") == "null"
        out: list[LlmRequest] = []
        for key in keys:
            prompt, sample = key
            ids = self.token_ids(prompt)
            if len(ids) + 1 > engine.max_context:
                if not null_on_error:
                    raise self._too_long(prompt, len(ids), engine.max_context)
                self.answers[key] = None
                continue
            out.append(LlmRequest(self.node.id, key, tuple(ids), self.sampling_params(prompt, sample),
                                  lane, null_on_error))
        return out

    # -- taking answers back --------------------------------------------------------------
    def accept(self, request: LlmRequest, completion: Completion, source: str) -> None:
        """Record one answer; ``source`` is "engine", "result_cache" or "shared"."""
        self.answers[request.key] = self.answer_of(request.prompt, completion)
        self.num_answered += 1
        self._count(completion, source)
        if self.done:
            self.stats.elapsed_s += time.perf_counter() - self._started
        self._report(force=self.done)

    def stop_at_limit(self, num_cancelled: int) -> None:
        """The node's ``limit`` is reached; ``num_cancelled`` requests will never be answered."""
        self.limit_reached = True
        self.num_expected -= num_cancelled
        self._keys = [k for k in self._keys if k in self.answers]

    def _count(self, completion: Completion, source: str) -> None:
        s = self.stats
        if source == "result_cache":
            s.result_cache_hits += 1
        elif source == "engine":
            s.engine_requests += 1
            s.prompt_tokens += completion.num_prompt_tokens
            s.cached_tokens += completion.num_cached_tokens
            s.generated_tokens += len(completion.token_ids)

    def compute(self, keys: Sequence[Key]) -> dict[Key, Any]:
        """Answer ``keys`` now (on-demand work, or running this operator on its own)."""
        requests = self.requests_for(keys)
        run_now = self.context.run_now or _stream_now(self.context.engine)
        answers = {k: self.answers[k] for k in keys if k in self.answers}
        for req, (completion, source) in zip(requests, run_now(requests)):
            answers[req.key] = self.answer_of(req.prompt, completion)
            self._count(completion, source)
        return answers

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        """The safety net: prompts the final query met that were not precomputed."""
        start = time.perf_counter()
        self.stats.on_demand_prompts += len(prompts)
        answers = self.compute([(p, 0) for p in prompts])
        self.stats.elapsed_s += time.perf_counter() - start
        self._report(force=True)
        return {p: answers[(p, 0)] for p in prompts}

    def execute(self) -> Iterator[pa.RecordBatch]:
        """Run this operator on its own: (prompt, output) batches, one row per distinct
        non-NULL prompt. (Inside a query the workflow runtime drives it instead.)"""
        answers = self.compute(list(dict.fromkeys(self.read_keys())))
        keys = list(answers)
        for begin in range(0, len(keys), self.context.read_batch_rows):
            part = keys[begin:begin + self.context.read_batch_rows]
            yield pa.RecordBatch.from_arrays(
                [pa.array([p for p, _ in part], pa.string()),
                 pa.array([answers[k] for k in part], self.output_type)], schema=self.schema)

    # -- helpers ----------------------------------------------------------------------------
    def read_input(self) -> Iterator[pa.RecordBatch]:
        """Stream the node's input query from DuckDB (never the whole input at once)."""
        assert self.input_sql is not None
        reader = self.context.con.sql(self.input_sql).to_arrow_reader(
            self.context.read_batch_rows)
        yield from reader

    def _too_long(self, prompt: str, num_tokens: int, max_context: int) -> ExecutionError:
        return ExecutionError(
            f"{self.name} ({cut(self.node.call.text)}): the row whose prompt is "
            f"{excerpt(prompt)} has {num_tokens} prompt tokens but the model's context is "
            f"{max_context} tokens. Shorten the input, or pass on_error => 'null' to get NULL "
            "for such rows")

    def _report(self, force: bool = False) -> None:
        progress = self.context.progress
        now = time.perf_counter()
        if progress is None or (not force and now - self._last_progress < 0.1):
            return
        self._last_progress = now
        s = self.stats
        total = len(self._keys) + s.on_demand_prompts
        done = len(self._keys) - (self.num_expected - self.num_answered) + s.on_demand_prompts
        progress(Progress(self.name, done, total, s.prompt_tokens, s.cached_tokens,
                          s.generated_tokens, now - self._started))
