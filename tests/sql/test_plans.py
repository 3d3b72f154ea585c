"""Golden plans: tests/fixtures/plans/*.sql hold a statement, then its EXPLAIN text, then a
blank line. EXPLAIN never loads a model, so these run without one."""

from __future__ import annotations

from pathlib import Path

import pytest

import heliumsql

PLANS = Path(__file__).parents[1] / "fixtures" / "plans"
SCHEMA = """CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER, category VARCHAR);
CREATE TABLE categories(category VARCHAR, title VARCHAR)"""


def cases() -> list:
    out = []
    for path in sorted(PLANS.glob("*.sql")):
        for i, block in enumerate(path.read_text().strip().split("\n\n")):
            sql, _, expected = block.partition("\nQuery\n")
            out.append(pytest.param(sql.strip(), "Query\n" + expected, id=f"{path.stem}-{i}"))
    return out


@pytest.fixture(scope="module")
def schema_con():  # noqa: ANN201
    con = heliumsql.connect(model="/nonexistent/model/never/loaded")
    con.sql(SCHEMA)
    yield con
    con.close()


@pytest.mark.parametrize(("sql", "expected"), cases())
def test_golden_plan(schema_con, sql: str, expected: str) -> None:
    assert schema_con.explain(sql) == expected
    # Deterministic: a second planning gives the same text (node ids restart per query).
    assert schema_con.explain(sql) == expected


def test_optimizer_off_is_shown_and_keeps_duplicates(schema_con) -> None:
    sql = "SELECT llm('Say {review}') AS a, llm('Say {review}') AS b FROM reviews"
    schema_con.sql("SET helium_optimizer = false")
    try:
        text = schema_con.explain(sql)
    finally:
        schema_con.sql("SET helium_optimizer = true")
    assert "Llm #1" in text and "Llm #2" in text and text.endswith("Optimizer  off")
    assert "Llm #2" not in schema_con.explain(sql)


def test_pure_sql_plan_is_just_relational(schema_con) -> None:
    assert schema_con.explain("SELECT count(*) FROM reviews") == \
        "Query\n  Relational  SELECT count(*) FROM reviews"


def test_planning_creates_nothing_on_the_connection(schema_con) -> None:
    """EXPLAIN and planning bind SQL that reads LLM answers without registering any function or
    table: the query's objects exist only while it runs."""
    import sqlglot

    from heliumsql.executor import Executor

    def helium_objects() -> list[tuple]:
        return schema_con.duckdb.sql(
            "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE '__helium%' "
            "UNION ALL SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__helium%' "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE view_name LIKE '__helium%'"
        ).fetchall()

    sql = ("WITH m AS (SELECT * FROM llm_map(TABLE categories, 'Describe {title}', as => 'd')) "
           "SELECT r.id, llm('Sum up {review} for {m.d}') AS s FROM reviews r JOIN m USING (category) "
           "WHERE llm_filter('Kind? {review}')")
    plan = Executor(schema_con.duckdb, lambda: None).plan(sqlglot.parse_one(sql, read="helium"))
    assert [n.strategy for n in plan.nodes] == ["batch", "batch", "batch"]
    assert helium_objects() == []  # the plan exists, and nothing was registered for it
    assert "LlmMap #1" in schema_con.explain(sql) and helium_objects() == []
