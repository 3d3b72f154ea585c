"""The optimizer driver: apply the ordered ``RULES`` to a logical plan.

A rule is a pure function ``rule(plan, ctx) -> plan``, one per module named after it. The driver
checks that every rule keeps the output columns and a valid execution order, names the rule in
any error, and records which rules changed the plan (EXPLAIN prints them).

>>> optimize(plan, RuleContext())                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from heliumsql.errors import PlanError
from heliumsql.optimizer.eliminate_common_llm_calls import eliminate_common_llm_calls
from heliumsql.plan.nodes import LogicalPlan


@dataclass(frozen=True)
class RuleContext:
    """What rules may consult besides the plan (grows with issue 4: cost figures, cache)."""


Rule = Callable[[LogicalPlan, RuleContext], LogicalPlan]

RULES: tuple[Rule, ...] = (
    # First: every later rule then sees each distinct call once.
    eliminate_common_llm_calls,
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
    """Apply ``rules`` in order; returns the new plan with ``applied_rules`` extended."""
    ctx = ctx or RuleContext()
    for rule in rules:
        name = getattr(rule, "__name__", repr(rule))
        try:
            new = rule(plan, ctx)
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
