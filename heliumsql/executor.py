"""Run one statement that has LLM calls: plan, optimize, run the LLM operators in dependency
order, then let DuckDB run the rewritten statement.

>>> executor = Executor(duckdb_con, lambda: engine)                  # doctest: +SKIP
>>> result = executor.run(sqlglot.parse_one(sql, read="helium"))     # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from heliumsql.binder import Catalog
from heliumsql.engine.interface import EngineBackend
from heliumsql.errors import CancelledError, HeliumError, PlanError
from heliumsql.explain import render_plan
from heliumsql.operators import OPERATORS, OperatorContext
from heliumsql.optimizer import RuleContext, optimize
from heliumsql.plan.nodes import LogicalPlan
from heliumsql.planner import build_plan
from heliumsql.progress import ProgressCallback
from heliumsql.result import Result
from heliumsql.runtime import QueryRuntime
from heliumsql.stats import QueryStats


@dataclass
class Executor:
    """Plans and runs statements on ``con``; ``engine`` is called only when a plan has LLM
    nodes (so EXPLAIN and pure SQL never load a model). ``model_names`` are the names a
    ``model =>`` argument may use for this connection's model (empty: any)."""

    con: duckdb.DuckDBPyConnection
    engine: Callable[[], EngineBackend]
    optimize: bool = True
    batch_size: int = 512
    model_names: frozenset[str] = frozenset()

    def plan(self, statement: exp.Expr, runtime: QueryRuntime) -> LogicalPlan:
        plan = build_plan(statement, Catalog(self.con), runtime)
        if self.model_names:
            for node in plan.nodes:
                wanted = node.call.option("model")
                if wanted is not None and wanted not in self.model_names:
                    raise PlanError(f"{node.call.function}(): model => {wanted!r} is not this "
                                    f"connection's model ({sorted(self.model_names)[0]!r}); one "
                                    "connection serves one model, so drop model => or connect "
                                    "with that model")
        return optimize(plan, RuleContext()) if self.optimize else plan

    def explain(self, statement: exp.Expr) -> str:
        runtime = QueryRuntime(self.con)
        try:
            return render_plan(self.plan(statement, runtime), self.optimize)
        finally:
            runtime.close()

    def run(self, statement: exp.Expr, progress: ProgressCallback | None = None
            ) -> tuple[Result, LogicalPlan, QueryStats]:
        """Run ``statement``; returns its result, plan and figures. Ctrl-C raises
        CancelledError and leaves the connection usable."""
        started = time.perf_counter()
        runtime = QueryRuntime(self.con)
        stats = QueryStats()
        try:
            plan = self.plan(statement, runtime)
            engine = self.engine() if plan.nodes else None
            context = OperatorContext(self.con, engine, progress, self.batch_size)
            operators = [OPERATORS[node.call.kind](node, context) for node in plan.nodes]
            for op in operators:
                stats.operators[op.node.id] = op.stats
            for op in operators:
                op.run(runtime)
            relational = time.perf_counter()
            sql = plan.statement.sql("duckdb")
            if isinstance(plan.statement, exp.Query):
                result = Result.from_arrow(self.con.sql(sql).to_arrow_table(), stats)
                stats.rows = result.arrow().num_rows
            else:
                self.con.execute(sql)
                result = Result.empty(stats)
            stats.relational_s = time.perf_counter() - relational
        except (KeyboardInterrupt, duckdb.InterruptException):
            raise CancelledError("query cancelled; the connection is still usable") from None
        except duckdb.Error as exc:
            inner = runtime.error
            if isinstance(inner, KeyboardInterrupt):
                raise CancelledError("query cancelled; the connection is still usable") from None
            if isinstance(inner, HeliumError):
                raise inner from exc
            raise
        finally:
            runtime.close()
        stats.total_s = time.perf_counter() - started
        return result, plan, stats
