"""Run one statement that has LLM calls: plan, optimize, plan physically, run the LLM
operators as one workflow (:mod:`heliumsql.workflow`), then let DuckDB run the rewritten
statement. Planning (and so EXPLAIN) creates nothing on the connection and loads no model;
the query's UDFs and tables exist only while it runs.

>>> import heliumsql, sqlglot
>>> con = heliumsql.connect(result_cache=None)
>>> _ = con.sql("CREATE TABLE t AS SELECT 'Ada' AS name")
>>> executor = Executor(con.duckdb, lambda: con.engine)
>>> plan = executor.plan(sqlglot.parse_one("SELECT llm('Hi {name}') AS hi FROM t", read="helium"))
>>> plan.nodes[0].strategy, con.engine_loaded
('batch', False)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlglot import exp

from heliumsql.backends import ReplicatedBackend
from heliumsql.binder import Catalog
from heliumsql.embedding_model import EmbeddingModels
from heliumsql.engine.interface import EngineBackend
from heliumsql.errors import CancelledError, HeliumError, PlanError
from heliumsql.explain import render_plan
from heliumsql.operators import OperatorContext, operator_class
from heliumsql.optimizer import RuleContext, optimize
from heliumsql.plan.nodes import EMBEDDING_KINDS
from heliumsql.plan.physical import PhysicalPlan, plan_physical
from heliumsql.planner import build_plan
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result
from heliumsql.result_cache import CacheSession, ResultCache
from heliumsql.query_objects import QueryObjects
from heliumsql.stats import QueryStats, ReplicaStats
from heliumsql.vector_search import VectorIndexes
from heliumsql.workflow import PromptTree, WorkflowRunner


@dataclass
class Executor:
    """Plans and runs statements on ``con``; ``engine`` is called only when a plan has LLM
    nodes (so EXPLAIN and pure SQL never load a model). ``model_names`` are the names a
    ``model =>`` argument may use for this connection's model (empty: any). ``optimize``
    turns the rewrite rules and the workflow scheduling on; ``result_cache`` (None: off)
    answers prompts computed by earlier queries; ``adaptive_filters`` lets the runtime order
    the LLM filters of one WHERE by what it learns from the first batches (off: the
    optimizer's static order); ``pipelining`` lets a downstream LLM node start on the rows whose
    upstream answers exist (off: when its upstream nodes finish)."""

    con: duckdb.DuckDBPyConnection
    engine: Callable[[], EngineBackend]
    optimize: bool = True
    batch_size: int = 512
    model_names: frozenset[str] = frozenset()
    result_cache: ResultCache | None = None
    adaptive_filters: bool = True
    pipelining: bool = True
    embeddings: EmbeddingModels | None = None  # llm_embed's models (None: llm_embed refused)
    indexes: VectorIndexes | None = None  # llm_search's indexes, kept by the connection

    def catalog(self) -> Catalog:
        """What planning binds against: the DuckDB catalog, and the embedding models' sizes."""
        dimension = None if self.embeddings is None else \
            (lambda model: self.embeddings.get(model).dimension)  # type: ignore[union-attr]
        return Catalog(self.con, embedding_dimension=dimension)

    def plan(self, statement: exp.Expr, tokenizer: Callable[[], Any] | None = None
             ) -> PhysicalPlan:
        """The physical plan of ``statement`` (logical plan, optimizer rules, then each node's
        strategy); ``tokenizer`` (may load the model) lets rules work in token ids; EXPLAIN
        without ANALYZE passes none, so it never loads a model."""
        plan = build_plan(statement, self.catalog())
        if self.model_names:
            for node in plan.nodes:
                if node.call.kind in EMBEDDING_KINDS:
                    continue  # their model => names an embedding model
                wanted = node.call.option("model")
                if wanted is not None and wanted not in self.model_names:
                    raise PlanError(f"{node.call.function}(): model => {wanted!r} is not this "
                                    f"connection's model ({sorted(self.model_names)[0]!r}); one "
                                    "connection serves one model, so drop model => or connect "
                                    "with that model")
        if self.optimize:
            plan = optimize(plan, RuleContext(self.con, tokenizer))
        return plan_physical(plan, scheduled=self.optimize, adaptive_filters=self.adaptive_filters,
                             pipelining=self.pipelining)

    def explain(self, statement: exp.Expr) -> str:
        return render_plan(self.plan(statement), self.optimize)

    def run(self, statement: exp.Expr, progress: ProgressCallback | None = None
            ) -> tuple[Result, PhysicalPlan, QueryStats]:
        """Run ``statement``; returns its result, plan and figures. Ctrl-C raises
        CancelledError and leaves the connection usable."""
        started = time.perf_counter()
        objects = QueryObjects(self.con)
        stats = QueryStats()
        loading = [0.0]

        def tokenizer() -> Any:
            # Loading the model is not planning: keep it out of the planning time.
            begin = time.perf_counter()
            engine = self.engine()
            loading[0] += time.perf_counter() - begin
            return engine.tokenizer

        try:
            plan = self.plan(statement, tokenizer)
            stats.planning_s = time.perf_counter() - started - loading[0]
            objects.declare(plan.logical)
            if plan.nodes and all(n.node.call.kind in EMBEDDING_KINDS for n in plan.nodes):
                with self._cache_session() as cache:
                    result = self._run_embeddings(plan, objects, stats, progress, cache)
            elif plan.nodes:
                engine = self.engine()
                with self._cache_session() as cache:
                    result = self._run_workflow(plan, engine, objects, stats, progress, cache)
            else:
                result = self._run_statement(plan, objects, stats)
        except (KeyboardInterrupt, duckdb.InterruptException):
            raise CancelledError("query cancelled; the connection is still usable") from None
        except duckdb.Error as exc:
            inner = objects.error
            if isinstance(inner, KeyboardInterrupt):
                raise CancelledError("query cancelled; the connection is still usable") from None
            if isinstance(inner, HeliumError):
                raise inner from exc
            raise
        finally:
            objects.close()
        stats.total_s = time.perf_counter() - started
        return result, plan, stats

    def _cache_session(self) -> AbstractContextManager[CacheSession | None]:
        return self.result_cache.session() if self.result_cache is not None else nullcontext(None)

    def _run_workflow(self, plan: PhysicalPlan, engine: EngineBackend, objects: QueryObjects,
                      stats: QueryStats, progress: ProgressCallback | None,
                      cache: CacheSession | None) -> Result:
        context = OperatorContext(self.con, engine, progress, self.batch_size,
                                  embeddings=self.embeddings, indexes=self.indexes, cache=cache)
        operators = {n.id: operator_class(n.node)(n.node, context, n.input_sql)
                     for n in plan.nodes}
        for node_id, op in operators.items():
            stats.operators[node_id] = op.stats
            objects.operators[node_id] = op  # on-demand answers for the final statement
        before = _engine_stats(engine)
        replicated = isinstance(engine, ReplicatedBackend)
        replicas_before = engine.replica_stats() if replicated else []
        runner = WorkflowRunner(plan, operators, objects, context, cache=cache)
        try:
            runner.run()
            return self._run_statement(plan, objects, stats)
        finally:
            runner.stop()
            stats.chain_runs, stats.pipeline_runs = runner.chain_runs, runner.pipeline_runs
            after = _engine_stats(engine)
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            stats.computed_prefill_tokens = delta.get("computed_prefill_tokens", 0)
            stats.evictions = delta.get("evictions", 0)
            if replicated:
                stats.replicas = tuple(ReplicaStats.delta(i, b, a) for i, (b, a) in enumerate(
                    zip(replicas_before, engine.replica_stats())))
            pinned = runner.pinned_prefixes
            stats.pinned_prefixes = len(pinned)
            stats.pinned_tokens = sum(len(p) for p in pinned)
            # As the benchmarks count it: the prompts the engine answered (a request a LIMIT
            # cancelled is not part of what the query needed, though its prefill counts).
            prompts = runner.dispatcher.completed + pinned
            stats.distinct_prompt_tokens = PromptTree.distinct_tokens(prompts)
            stamp = runner.dispatcher.stamp
            if stamp is not None:
                stats.reused_prompt_tokens = PromptTree.distinct_tokens(
                    runner.dispatcher.reused_prefixes()
                    + [p[:engine.cached_prefix(p, before=stamp)] for p in pinned])

    def _run_embeddings(self, plan: PhysicalPlan, objects: QueryObjects, stats: QueryStats,
                        progress: ProgressCallback | None, cache: CacheSession | None) -> Result:
        """A plan of embedding operators only: nothing to generate, so no LLM engine is loaded
        and no workflow scheduled; the nodes run in plan order (a valid execution order)."""
        context = OperatorContext(self.con, None, progress, self.batch_size,  # type: ignore[arg-type]
                                  embeddings=self.embeddings, indexes=self.indexes, cache=cache)
        for node_plan in plan.nodes:
            op = operator_class(node_plan.node)(node_plan.node, context, node_plan.input_sql)
            stats.operators[node_plan.id] = op.stats
            objects.operators[node_plan.id] = op  # on-demand vectors for the final statement
            if node_plan.strategy != "on_demand":
                op.materialize()
                op.publish(objects)
        return self._run_statement(plan, objects, stats)

    def _run_statement(self, plan: PhysicalPlan, objects: QueryObjects, stats: QueryStats) -> Result:
        relational = time.perf_counter()
        # Read before the query's functions go: a query's rows, or what DuckDB reports for the
        # statement (the Count of an INSERT, UPDATE, DELETE or CREATE TABLE AS), as DuckDB does.
        relation = self.con.sql(plan.statement_sql)
        result = Result.empty(stats) if relation is None else \
            Result.from_arrow(relation.to_arrow_table(), stats)
        if isinstance(plan.logical.statement, exp.Query):
            stats.rows = result.arrow().num_rows
        stats.relational_s = time.perf_counter() - relational
        return result


def _engine_stats(engine: EngineBackend) -> dict[str, int]:
    return dict(engine.stats())
