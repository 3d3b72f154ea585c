"""The four systems every workflow runs on, all on the same model.

=============== ====================================================================================
``naive``       HeliumSQL's SQL with the optimizer off, each LLM request answered by its own
                Hugging Face ``generate`` (no KV cache shared between requests)
``agent``       the workflow as an agent framework runs it: Python loops, row by row and stage by
                stage, one request at a time to HeliumSQL's engine with plain reactive prefix caching
``vllm_style``  HeliumSQL's SQL with the optimizer off (operator by operator, rows in arrival order,
                no rewrites) on the engine with a vLLM-style scheduler (FCFS, no in-batch dedup)
``heliumsql``   HeliumSQL: optimizer on, the engine as it ships
=============== ====================================================================================

A system is prepared (fresh engine and DuckDB database, the workload's tables loaded: untimed)
before every timed run, so no run starts with a warm cache.

>>> system = SqlSystem("heliumsql", "HeliumSQL", model, tokenizer, RecordingEngine, True)  # doctest: +SKIP
>>> system.prepare(workload, tables); rows = system.run(workload, sizes)          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import gc
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import torch

import heliumsql
from heliumsql.engine.sampling import SamplingParams
from heliumsql.sampling import filter_params, filter_verdict
from heliumsql.prompting import chat_token_ids
from benchmarks.workflows.engines import ReactiveEngine, RecordingEngine, RecordingHFEngine
from benchmarks.workflows.workload import Tables, Workload, load_tables

# A prompt too short to fill one KV block: warming an engine up leaves nothing in its cache.
_WARM_UP_PROMPT = [5, 6, 7, 8]


@dataclass
class RunFigures:
    """What one timed run did besides its answers: engine counters (deltas over the run) and
    the planning time of each statement (SQL systems only)."""

    engine: dict[str, int] = field(default_factory=dict)
    planning_s: list[float] = field(default_factory=list)
    issued: list[list[int]] = field(default_factory=list)


def _fresh_model(base: torch.nn.Module) -> torch.nn.Module:
    # The engine may install its attention function on the model it runs; the naive system
    # must keep stock transformers attention, so engines get their own copy.
    return copy.deepcopy(base)


class _System:
    name: str
    label: str
    engine: Any = None
    config: dict[str, Any]

    def __init__(self, base: torch.nn.Module, tokenizer: Any, device: str) -> None:
        self.base, self.tokenizer, self.device = base, tokenizer, device
        self.figures = RunFigures()
        self._before: dict[str, int] = {}

    @property
    def model(self) -> torch.nn.Module:
        """The torch module this system's forward passes run on (hooked to count tokens)."""
        return self.engine.model

    def _start(self, engine: Any) -> None:
        self.engine = engine
        engine.generate([_WARM_UP_PROMPT], SamplingParams(max_tokens=2))  # lazy init, untimed
        engine.issued.clear()
        self._before = engine.stats()

    def _finish(self) -> None:
        after = self.engine.stats()
        self.figures.engine = {k: after[k] - self._before.get(k, 0) for k in after}
        self.figures.issued = list(self.engine.issued)

    def after_run(self, workload: Workload, sizes: Any) -> None:
        """Untimed work after a timed run (nothing by default)."""

    def release(self) -> None:
        """Drop the engine (and its KV pool) before the next system is prepared."""
        self.engine = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class SqlSystem(_System):
    """A workflow's SQL statements run through ``heliumsql.connect`` on a given engine."""

    def __init__(self, name: str, label: str, base: torch.nn.Module, tokenizer: Any, device: str,
                 engine_class: type, optimize: bool) -> None:
        super().__init__(base, tokenizer, device)
        self.name, self.label = name, label
        self.engine_class, self.optimize = engine_class, optimize
        self.con: Any = None
        self._results: list[Any] = []
        self.config = dict(engine=engine_class.__name__, optimize=optimize)

    def prepare(self, workload: Workload, tables: Tables) -> None:
        self.release()
        model = self.base if self.engine_class is RecordingHFEngine else _fresh_model(self.base)
        self._start(self.engine_class((model, self.tokenizer), device=self.device))
        self.con = heliumsql.connect(engine=self.engine, optimize=self.optimize, **_no_result_cache())
        load_tables(self.con.duckdb, tables)
        self.figures = RunFigures()

    def run(self, workload: Workload, sizes: Any) -> list[list[tuple]]:
        answers = []
        self._results = []
        for statement in workload.statements(sizes):
            result = self.con.sql(statement)
            answers.append(result.fetchall())
            self._results.append(result)
        self._finish()
        return answers

    def after_run(self, workload: Workload, sizes: Any) -> None:
        """Planning time of each statement (untimed: measured after the run if the query
        did not report it)."""
        self.figures.planning_s = [_planning_s(self.con, s, r)
                                   for s, r in zip(workload.statements(sizes), self._results)]

    def release(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None
        super().release()


class AgentSystem(_System):
    """The workflow's Python twin (``Workload.agent``): one request at a time to the engine."""

    name = "agent"
    label = "agent framework: row by row, one request at a time, reactive prefix cache"

    def __init__(self, base: torch.nn.Module, tokenizer: Any, device: str) -> None:
        super().__init__(base, tokenizer, device)
        self.config = dict(engine=ReactiveEngine.__name__, optimize=None)

    def prepare(self, workload: Workload, tables: Tables) -> None:
        self.release()
        self._start(ReactiveEngine((_fresh_model(self.base), self.tokenizer), device=self.device))
        self.tables = tables
        self.figures = RunFigures()

    def run(self, workload: Workload, sizes: Any) -> list[list[tuple]]:
        answers = workload.agent(self.tables, EngineLlm(self.engine), sizes)
        self._finish()
        return answers


class EngineLlm:
    """An agent's LLM client: formats the prompt as the SQL operators do (chat template), sends
    it alone and waits for the answer. Sampling parameters equal the operators' (greedy)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def __call__(self, prompt: str, max_tokens: int) -> str:
        ids = chat_token_ids(self.engine.tokenizer, prompt)
        return self.engine.generate([ids], SamplingParams(max_tokens=max_tokens))[0].text

    def filter(self, prompt: str) -> bool | None:
        ids = chat_token_ids(self.engine.tokenizer, prompt)
        done = self.engine.generate([ids], filter_params())[0]
        return filter_verdict(done.choice)


def _no_result_cache() -> dict[str, Any]:
    """``result_cache=None`` where ``connect`` has a persistent result cache: a benchmark that
    reads answers from an earlier run's cache measures nothing."""
    from heliumsql.connection import connect

    return {"result_cache": None} if "result_cache" in inspect.signature(connect).parameters else {}


def _planning_s(con: Any, statement: str, result: Any) -> float:
    """The statement's planning time: as the query reported it if it does, else the time to
    parse, plan and optimize it again (``Connection.explain`` without running it)."""
    reported = getattr(result.analyze, "planning_s", None)
    if reported is not None:
        return float(reported)
    start = time.perf_counter()
    con.explain(statement)
    return time.perf_counter() - start


def make_systems(base: torch.nn.Module, tokenizer: Any, device: str) -> list[_System]:
    """The four systems in report order; the first (naive) is the reference for answers."""
    return [
        SqlSystem("naive", "naive: optimizer off, one HF generate per request, no cache",
                  base, tokenizer, device, RecordingHFEngine, optimize=False),
        AgentSystem(base, tokenizer, device),
        SqlSystem("vllm_style", "vLLM-style: optimizer off, FCFS reactive prefix cache",
                  base, tokenizer, device, ReactiveEngine, optimize=False),
        SqlSystem("heliumsql", "HeliumSQL: optimizer on", base, tokenizer, device,
                  RecordingEngine, optimize=True),
    ]
