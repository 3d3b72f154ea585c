"""What every LLM operator shares: read prompts from DuckDB, deduplicate, chat-format, call the
engine in batches, turn completions into values, keep figures, report progress.

>>> op = LlmMapOperator(node, context)          # doctest: +SKIP
>>> for batch in op.execute(): ...              # (prompt, output) record batches
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from heliumsql.engine.interface import EngineBackend
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.errors import ExecutionError, PromptTooLongError
from heliumsql.plan.nodes import LlmNode
from heliumsql.progress import Progress, ProgressCallback
from heliumsql.prompting import chat_token_ids
from heliumsql.stats import OperatorStats

if TYPE_CHECKING:
    from heliumsql.runtime import QueryRuntime

# With n > 1 and no temperature, samples would all be identical; this is the documented default.
DEFAULT_SAMPLING_TEMPERATURE = 0.7
_EXCERPT = 80


@dataclass
class OperatorContext:
    """What operators need from the session: DuckDB, the engine, progress, batch size."""

    con: duckdb.DuckDBPyConnection
    engine: EngineBackend
    progress: ProgressCallback | None = None
    batch_size: int = 512
    read_batch_rows: int = 8192


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from the repr of ``parts``: same inputs, same seed, in any process."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def excerpt(text: str) -> str:
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


class LlmOperator:
    """Base of the per-prompt operators; subclasses set the output type and decode answers."""

    output_type: pa.DataType = pa.string()

    def __init__(self, node: LlmNode, context: OperatorContext) -> None:
        self.node, self.context = node, context
        self.stats = OperatorStats(f"{node.operator} #{node.id}")
        self._last_progress = 0.0
        self._started = time.perf_counter()

    @property
    def name(self) -> str:
        return self.stats.operator

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("prompt", pa.string()), ("output", self.output_type)])

    # -- what subclasses specialise -------------------------------------------------------
    def sampling_params(self, prompt: str, sample: int) -> SamplingParams:
        call = self.node.call
        temperature = call.option("temperature") or 0.0
        if self.node.num_samples > 1 and temperature == 0:
            temperature = DEFAULT_SAMPLING_TEMPERATURE
        seed = None
        if temperature > 0:
            # Derived from everything that defines the answer, so dedup/reordering is safe.
            seed = stable_seed(self.context.engine.fingerprint, prompt, call.options, sample)
        return SamplingParams(max_tokens=call.option("max_tokens"), temperature=temperature,
                              top_p=call.option("top_p"), top_k=call.option("top_k"),
                              stop=tuple(call.option("stop") or ()), seed=seed)

    def decode(self, completion: Completion) -> Any:
        return completion.text

    # -- the work --------------------------------------------------------------------------
    def compute(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
        """Answer each (prompt, sample) once; per-row errors follow ``on_error``."""
        engine = self.context.engine
        system = self.node.call.option("system")
        null_on_error = self.node.call.option("on_error") == "null"
        answers: dict[tuple[str, int], Any] = {}
        todo: list[tuple[tuple[str, int], list[int]]] = []
        token_cache: dict[str, list[int]] = {}
        for key in keys:
            prompt = key[0]
            ids = token_cache.get(prompt)
            if ids is None:
                ids = token_cache[prompt] = chat_token_ids(engine.tokenizer, prompt, system)
            if len(ids) + 1 > engine.max_context:
                if not null_on_error:
                    raise self._too_long(prompt, len(ids), engine.max_context)
                answers[key] = None
                continue
            todo.append((key, ids))
        for begin in range(0, len(todo), self.context.batch_size):
            chunk = todo[begin:begin + self.context.batch_size]
            answers.update(self._generate(chunk, null_on_error))
            self._report(force=begin + len(chunk) >= len(todo))
        return answers

    def _generate(self, chunk: list[tuple[tuple[str, int], list[int]]], null_on_error: bool
                  ) -> dict[tuple[str, int], Any]:
        answers: dict[tuple[str, int], Any] = {}
        pending = list(chunk)
        while pending:
            params = [self.sampling_params(key[0], key[1]) for key, _ in pending]
            try:
                # closing(): an abandoned stream must release the engine (Ctrl-C, errors).
                with closing(self.context.engine.stream([ids for _, ids in pending], params)) as stream:
                    for completion in stream:
                        key = pending[completion.index][0]
                        answers[key] = self.decode(completion)
                        self.stats.prompt_tokens += completion.num_prompt_tokens
                        self.stats.cached_tokens += completion.num_cached_tokens
                        self.stats.generated_tokens += len(completion.token_ids)
                        self.stats.distinct_prompts += 1
                        self._report()
                pending = []
            except PromptTooLongError as exc:
                index = exc.request_index if exc.request_index is not None else 0
                key, ids = pending[index]
                if not null_on_error:
                    raise self._too_long(key[0], exc.num_prompt_tokens, exc.max_context) from exc
                answers[key] = None
                pending = [p for p in pending if p[0] not in answers]
        return answers

    def _too_long(self, prompt: str, num_tokens: int, max_context: int) -> ExecutionError:
        return ExecutionError(
            f"{self.name} ({self.node.call.text}): a row's prompt has {num_tokens} tokens but the "
            f"model's context is {max_context} tokens; prompt: {excerpt(prompt)}. Shorten the "
            "input, or pass on_error => 'null' to get NULL for such rows")

    def _report(self, force: bool = False) -> None:
        progress = self.context.progress
        now = time.perf_counter()
        if progress is None or (not force and now - self._last_progress < 0.1):
            return
        self._last_progress = now
        s = self.stats
        progress(Progress(self.name, s.distinct_prompts + s.on_demand_prompts, self._total,
                          s.prompt_tokens, s.cached_tokens, s.generated_tokens, now - self._started))

    _total: int | None = None

    def read_input(self) -> Iterator[pa.RecordBatch]:
        """Stream the node's input query from DuckDB (never the whole input at once)."""
        assert self.node.input is not None
        reader = self.context.con.sql(self.node.input.sql("duckdb")).to_arrow_reader(
            self.context.read_batch_rows)
        yield from reader

    def execute(self) -> Iterator[pa.RecordBatch]:
        """Yield (prompt, output) batches: one row per distinct non-NULL prompt."""
        prompts: dict[str, None] = {}
        for batch in self.read_input():
            column = batch.column(0).to_pylist()
            self.stats.rows_in += len(column)
            prompts.update(dict.fromkeys(p for p in column if p is not None))
        self._total = len(prompts)
        # All prompts go to compute() together so the engine can schedule across them.
        answers = self.compute([(p, 0) for p in prompts])
        keys = list(prompts)
        for begin in range(0, len(keys), self.context.read_batch_rows):
            part = keys[begin:begin + self.context.read_batch_rows]
            self.stats.rows_out += len(part)
            yield pa.RecordBatch.from_arrays(
                [pa.array(part, pa.string()),
                 pa.array([answers[(p, 0)] for p in part], self.output_type)], schema=self.schema)

    def compute_missing(self, prompts: list[str]) -> dict[str, Any]:
        """The safety net: prompts the final query met that were not precomputed."""
        start = time.perf_counter()
        self.stats.on_demand_prompts += len(prompts)
        before = self.stats.distinct_prompts
        answers = self.compute([(p, 0) for p in prompts])
        # distinct_prompts counts precomputed prompts only; on-demand ones are counted above.
        self.stats.distinct_prompts = before
        self.stats.elapsed_s += time.perf_counter() - start
        return {p: answers[(p, 0)] for p in prompts}

    def run(self, runtime: "QueryRuntime") -> None:
        """Execute and publish the answers where the node's UDF finds them."""
        self._started = time.perf_counter()
        runtime.operators[self.node.id] = self
        if self.node.input is not None:
            for batch in self.execute():
                runtime.store(self.node.id, dict(zip(batch.column(0).to_pylist(),
                                                     batch.column(1).to_pylist())))
        self.stats.elapsed_s += time.perf_counter() - self._started
