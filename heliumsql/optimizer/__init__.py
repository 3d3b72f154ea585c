"""The optimizer driver: apply the ordered ``RULES`` to a logical plan.

A rule is a pure function ``rule(plan, ctx) -> plan``, one per module named after it. The driver
checks that every rule keeps the output columns and a valid execution order, names the rule in
any error, and records which rules changed the plan (EXPLAIN prints them).

>>> from heliumsql.testing import logical_plan
>>> plan, con = logical_plan("SELECT llm('Hi {name}') AS a, llm('Hi {name}') AS b FROM people",
...                          "CREATE TABLE people(name VARCHAR)")
>>> optimize(plan, RuleContext(con)).applied_rules
('eliminate_common_llm_calls',)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import duckdb
from sqlglot import exp

from heliumsql.errors import EngineError, PlanError
from heliumsql.optimizer.eliminate_common_llm_calls import eliminate_common_llm_calls
from heliumsql.optimizer.factor_prompt_prefixes import factor_prompt_prefixes
from heliumsql.optimizer.prune_llm_columns import prune_llm_columns
from heliumsql.optimizer.push_down_filters import push_down_filters
from heliumsql.optimizer.push_down_limits import push_down_limits
from heliumsql.plan.nodes import LogicalPlan
from heliumsql.plan.paused_gc import paused_gc
from heliumsql.plan.stand_ins import StandIns


@dataclass(frozen=True)
class RuleContext:
    """What rules may consult besides the plan; every part is optional and rules degrade
    without it (EXPLAIN plans without a model, golden tests without data).

    ``con``: the session's DuckDB connection, for binding checks, table schemas and cheap
    column statistics over at most ``sample_rows`` rows. ``tokenizer``: called (at most once
    per rule, only when needed) for the model's tokenizer, so prefixes can be given as chat
    token ids; pass it only where loading the model is acceptable (running a query, not
    EXPLAIN). ``stand_ins``: the plan's typed stand-ins, so SQL reading LLM answers binds
    while nothing is registered (:mod:`heliumsql.plan.stand_ins`). The executor builds it as
    ``RuleContext(con, (lambda: engine().tokenizer) if running else None)``; ``optimize``
    sets ``stand_ins`` from the plan.

    >>> RuleContext().binds(None)
    False
    """

    con: duckdb.DuckDBPyConnection | None = None
    tokenizer: Callable[[], Any] | None = None
    stand_ins: StandIns = StandIns()
    sample_rows: int = 1024

    def sql(self, query: exp.Expr) -> str:
        """``query`` as DuckDB SQL that binds before the query's objects exist."""
        return self.stand_ins.sql(query)

    def binds(self, query: exp.Expr | None) -> bool:
        """Whether DuckDB can bind ``query`` (False without a connection: rules then keep the
        plan as it is rather than guess)."""
        if self.con is None or query is None:
            return False
        try:
            return bool(self.con.sql(self.sql(query)).columns)
        except duckdb.Error:
            return False

    def table_columns(self, name: str) -> tuple[str, ...] | None:
        """Column names of table or view ``name`` (None if unknown or no connection)."""
        if self.con is None:
            return None
        try:
            return tuple(self.con.sql(self.sql(exp.select("*").from_(exp.Table(this=exp.to_identifier(name)))
                                               .limit(0))).columns)
        except duckdb.Error:
            return None


Rule = Callable[[LogicalPlan, RuleContext], LogicalPlan]

# Each comment states why a rule sits where it does.
RULES: tuple[Rule, ...] = (
    # First: calls nobody reads are dropped before any rule spends work on them, and before
    # common-call elimination could merge them into a live call (whose input would then grow).
    prune_llm_columns,
    # Before limits (a LIMIT applies after WHERE, so the row set must be final first) and before
    # common-call elimination (each node's input is still the one query of its own scope).
    push_down_filters,
    # Before common-call elimination, for the same reason; after filters (see above).
    push_down_limits,
    # After the input-narrowing rules: merged nodes read the union of already-narrowed inputs.
    # Before the prompt-shaping rules: they then see each distinct call once.
    eliminate_common_llm_calls,
    # Last: the prefixes are those of the final prompts and nodes (the field order of a
    # record-style call is part of its prompt, fixed while planning: see field_order).
    factor_prompt_prefixes,
)


def _check_order(plan: LogicalPlan) -> str | None:
    seen: set[int] = set()
    for node in plan.nodes:
        missing = [d for d in node.deps if d not in seen]
        if missing:
            return f"node #{node.id} runs before #{missing[0]}, which it reads"
        seen.add(node.id)
    return None


def optimize(plan: LogicalPlan, ctx: RuleContext | None = None,
             rules: tuple[Rule, ...] = RULES) -> LogicalPlan:
    """Apply ``rules`` in order; returns the new plan with ``applied_rules`` extended. SQL the
    rules bind reads the plan's stand-ins (its per-query objects do not exist yet)."""
    ctx = replace(ctx or RuleContext(), stand_ins=plan.stand_ins)
    with paused_gc():
        return _apply(plan, ctx, rules)


def _apply(plan: LogicalPlan, ctx: RuleContext, rules: tuple[Rule, ...]) -> LogicalPlan:
    for rule in rules:
        name = getattr(rule, "__name__", repr(rule))
        try:
            new = rule(plan, ctx)
        except EngineError:
            raise  # the model failed to load (a rule read its tokenizer): not the rule's fault
        except Exception as exc:  # noqa: BLE001 - any failure is reported against the rule
            raise PlanError(f"optimizer rule {name} failed: {exc}") from exc
        if new.columns != plan.columns:
            raise PlanError(f"optimizer rule {name} changed the output columns from "
                            f"{list(plan.columns)} to {list(new.columns)}")
        problem = _check_order(new)
        if problem:
            raise PlanError(f"optimizer rule {name} broke the execution order: {problem}")
        if new != plan:
            new = replace(new, applied_rules=plan.applied_rules + (name,))
        plan = new
    return plan


__all__ = ["RULES", "Rule", "RuleContext", "optimize"]
