"""Golden files per optimizer rule: tests/fixtures/optimizer/<rule>.sql holds a statement, then
the EXPLAIN text after applying only that rule (with a DuckDB connection for statistics, no
model), then a blank line (same format as tests/fixtures/plans/)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

import heliumsql
from heliumsql.binder import Catalog
from heliumsql.explain import render_plan
from heliumsql.optimizer import RULES, RuleContext, optimize
from heliumsql.planner import build_plan

FIXTURES = Path(__file__).parents[1] / "fixtures" / "optimizer"
RULES_BY_NAME = {rule.__name__: rule for rule in RULES}


def cases() -> list:
    out = []
    for path in sorted(FIXTURES.glob("*.sql")):
        for i, block in enumerate(path.read_text().strip().split("\n\n")):
            sql, _, expected = block.partition("\nQuery\n")
            out.append(pytest.param(path.stem, sql.strip(), "Query\n" + expected,
                                    id=f"{path.stem}-{i}"))
    return out


def explain_with(con: heliumsql.Connection, rule_name: str, sql: str) -> str:
    """EXPLAIN text of ``sql`` after only ``rule_name``."""
    plan = build_plan(sqlglot.parse_one(sql, read="helium"), Catalog(con.duckdb))
    return render_plan(optimize(plan, RuleContext(con.duckdb), (RULES_BY_NAME[rule_name],)))


def test_every_rule_has_golden_cases():
    assert {p.stem for p in FIXTURES.glob("*.sql")} == set(RULES_BY_NAME)


@pytest.mark.parametrize(("rule", "sql", "expected"), cases())
def test_rule_golden(golden_con, rule: str, sql: str, expected: str) -> None:
    assert rule in RULES_BY_NAME, f"{rule}.sql names no rule in RULES"
    assert explain_with(golden_con, rule, sql) == expected
