"""The optimizer driver: rules run in order, are checked, and are named in errors and EXPLAIN."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlglot

import heliumsql
from heliumsql.binder import Catalog
from heliumsql.errors import PlanError
from heliumsql.optimizer import RULES, RuleContext, optimize
from heliumsql.optimizer.eliminate_common_llm_calls import eliminate_common_llm_calls
from heliumsql.planner import build_plan


@pytest.fixture
def plan_of():  # noqa: ANN201
    con = heliumsql.connect(model="/never/loaded")
    con.sql("CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)")

    def plan(sql: str):  # noqa: ANN202
        return build_plan(sqlglot.parse_one(sql, read="helium"), Catalog(con.duckdb))

    return plan


def test_rules_run_in_the_documented_order():
    names = [rule.__name__ for rule in RULES]
    assert names == ["prune_llm_columns", "push_down_filters", "push_down_limits",
                     "eliminate_common_llm_calls", "factor_prompt_prefixes"]
    assert RULES[3] is eliminate_common_llm_calls


def test_applied_rules_are_recorded_only_when_the_plan_changes(plan_of):
    dup = plan_of("SELECT llm('{review}') AS a, llm('{review}') AS b FROM reviews")
    assert optimize(dup).applied_rules == ("eliminate_common_llm_calls",)
    assert len(optimize(dup).nodes) == 1
    assert optimize(dup).notes[0] == ("eliminate_common_llm_calls", "merged #2 into #1")
    single = plan_of("SELECT llm('{review}') AS a FROM reviews")
    rules = (eliminate_common_llm_calls,)
    once = optimize(single, RuleContext(), rules)
    assert once.applied_rules == ("eliminate_common_llm_calls",)  # marked to dedupe prompts
    assert optimize(once, RuleContext(), rules) == once  # nothing left to change: not recorded


def test_identical_calls_with_different_options_are_kept_apart(plan_of):
    plan = plan_of("SELECT llm('{review}', max_tokens => 2) AS a, llm('{review}') AS b FROM reviews")
    assert len(optimize(plan).nodes) == 2


def test_rule_that_changes_columns_is_named(plan_of):
    def drop_a_column(plan, ctx):  # noqa: ANN001, ANN202
        return replace(plan, columns=plan.columns[:1])

    with pytest.raises(PlanError, match="drop_a_column changed the output columns"):
        optimize(plan_of("SELECT id, llm('{review}') AS a FROM reviews"), RuleContext(), (drop_a_column,))


def test_rule_that_breaks_dependency_order_is_named(plan_of):
    def reverse(plan, ctx):  # noqa: ANN001, ANN202
        return replace(plan, nodes=tuple(reversed(plan.nodes)))

    plan = plan_of("SELECT llm('{review}') AS a FROM reviews WHERE llm_filter('{review}')")
    with pytest.raises(PlanError, match="reverse broke the execution order"):
        optimize(plan, RuleContext(), (reverse,))


def test_rule_that_raises_is_named(plan_of):
    def broken(plan, ctx):  # noqa: ANN001, ANN202
        raise ValueError("boom")

    with pytest.raises(PlanError, match="optimizer rule broken failed: boom"):
        optimize(plan_of("SELECT llm('x')"), RuleContext(), (broken,))
