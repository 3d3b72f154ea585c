"""A seeded grammar fuzzer of statements with LLM calls (issue 17): calls in every clause and
statement kind, nested calls and odd named arguments, over a small table. Whatever it writes, the
statement gives rows or raises a HeliumError or a DuckDB error, and the same connection then
answers ``select 42`` and holds no per-query function.

Derandomized (the same statements on every run) and bounded (``max_examples``) so it stays
under a minute on a CPU with a tiny model and ``max_tokens => 2``.
"""

from __future__ import annotations

import duckdb
import pytest
from connection_checks import still_works
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heliumsql
from heliumsql import HeliumError

TABLES = """
CREATE TABLE t AS SELECT * FROM (VALUES
  (1, 'great stuff', 'tools', 3), (2, 'broke in a day', 'toys', 1), (3, NULL, 'tools', 2),
  (4, 'meh', NULL, 5)) v(id, txt, grp, n);
CREATE TABLE u AS SELECT * FROM (VALUES ('tools', 'Tools'), ('toys', 'Toys')) v(grp, title);
CREATE TABLE log (a VARCHAR);
INSERT INTO log VALUES ('x'), (NULL);
"""

# Mostly valid pieces (so most statements reach planning and execution), some broken ones.
TEMPLATES = ["'x'", "'Say {txt}'", "'{grp}: {txt}'", "'{t.txt}'", "'Rate {n}'", "txt", "upper(txt)",
             "'{{literal}} {n}'", "NULL", "''", "'{nope}'", "'open {txt'", "'{}'", "'}'",
             "'{ txt }'", "'{a.b.c}'", "'é {txt} ☃'", "'{txt}' || 'x'", "42", "[1, 2]"]
FIELDS = ["txt", "grp", "n", "n + 1 AS k", "txt", "grp", "title", "TABLE t"]
ODD_ARGUMENTS = ["temperature => 0.5", "top_p => 0", "top_p => 0.9", "seed => 3", "seed => 1.5",
                 "n => 2", "reorder => true", "reorder => 'yes'", "on_error => 'null'",
                 "system => 's'", "max_tokens => -1", "stop => ['a']", "bogus => 1",
                 "model => 'other'", "temperature => txt", "max_tokens => 2, max_tokens => 3"]


@st.composite
def calls(draw: st.DrawFn, kind: str = "llm", depth: int = 0) -> str:
    """An LLM call of ``kind`` (llm, llm_filter, llm_agg), maybe with a nested call."""
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        prompt = draw(calls(draw(st.sampled_from(["llm", "llm_filter"])), depth + 1))
    else:
        prompt = draw(st.sampled_from(TEMPLATES))
    fields = draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True))
    named = [] if kind == "llm_filter" else ["max_tokens => 2"]
    if draw(st.integers(0, 3)) == 0:
        named.append(draw(st.sampled_from(ODD_ARGUMENTS)))
    return f"{kind}({', '.join([prompt] + fields + named)})"


@st.composite
def statements(draw: st.DrawFn) -> str:
    scalar, where = draw(calls("llm")), draw(calls("llm_filter"))
    agg = draw(calls("llm_agg"))
    depth = draw(st.integers(1, 60))
    shapes = [
        "SELECT " + "llm(" * depth + "'x'" + ", max_tokens => 2)" * depth,
        f"SELECT {where} AS f, {agg} AS a FROM t",
        f"SELECT id FROM t WHERE {agg} IS NULL",
        f"SELECT id, {scalar} AS a FROM t LIMIT 0",
        f"SELECT id, {scalar} AS a FROM t",
        f"SELECT id FROM t WHERE {where}",
        f"SELECT grp, {agg} AS a FROM t GROUP BY grp",
        f"SELECT grp FROM t GROUP BY grp HAVING {agg} IS NOT NULL",
        f"SELECT id FROM t ORDER BY {scalar} LIMIT 2",
        f"SELECT t.id FROM t JOIN u ON t.grp = u.grp AND {where}",
        f"SELECT t.id, {scalar} AS a FROM t JOIN u USING (grp)",
        f"WITH c AS (SELECT id, txt, {scalar} AS a FROM t) SELECT * FROM c WHERE a IS NOT NULL",
        f"SELECT * FROM (SELECT id, txt, grp, n, {scalar} AS a FROM t) WHERE {where}",
        f"SELECT id, (SELECT {scalar} FROM u WHERE u.grp = t.grp) AS a FROM t",
        f"SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE {where})",
        f"SELECT CASE WHEN n > 2 THEN {scalar} END AS a FROM t",
        f"SELECT {scalar} OVER () FROM t",
        f"SELECT count(*) FILTER (WHERE {where}) FROM t",
        f"VALUES ({scalar})",
        f"DESCRIBE SELECT {scalar} AS a FROM t",
        f"SUMMARIZE SELECT {scalar} AS a FROM t",
        f"PIVOT t ON grp USING {agg}",
        f"UNPIVOT (SELECT id, {scalar} AS a, txt FROM t) ON a, txt INTO NAME k VALUE v",
        f"CREATE OR REPLACE VIEW v AS SELECT id, {scalar} AS a FROM t",
        f"SELECT id, {scalar} AS b FROM v",
        "SELECT * FROM v",
        "DROP VIEW IF EXISTS v",
        f"COPY (SELECT id, {scalar} AS a FROM t) TO '{{path}}'",
        f"SET helium_optimizer = {draw(st.booleans())}",
        f"SET helium_reorder_fields = {draw(st.booleans())}",
        f"CREATE OR REPLACE TABLE c AS SELECT id, {scalar} AS a FROM t",
        f"INSERT INTO log SELECT {scalar} FROM t",
        f"UPDATE log SET a = {scalar}",
        f"DELETE FROM log WHERE {where}",
        f"SELECT * FROM llm_map(TABLE t, {scalar[4:-1]})",
        f"SELECT * FROM llm_map((SELECT id, txt, {scalar} AS a FROM t), '{{a}}', max_tokens => 2)",
        f"EXPLAIN SELECT id, {scalar} AS a FROM t WHERE {where}",
        f"SELECT {scalar}; SELECT id FROM t WHERE {where}",
        f"EXPLAIN ANALYZE SELECT grp, {agg} AS a FROM t GROUP BY grp",
        f"SELECT id, {scalar} AS a FROM t QUALIFY row_number() OVER (PARTITION BY grp ORDER BY id) = 1",
        f"SELECT id FROM t, LATERAL (SELECT {scalar} AS a) l",
        f"SELECT id, {scalar} AS a FROM t UNION ALL SELECT id, txt FROM t WHERE {where}",
        f"SELECT list({scalar}) FROM t",
        f"SELECT {scalar} AS a FROM t GROUP BY ALL",
    ]
    return draw(st.sampled_from(shapes))


@pytest.fixture(scope="module")
def fuzz_con(engine):  # noqa: ANN001, ANN201
    con = heliumsql.connect(engine=engine, result_cache=None)
    con.sql(TABLES)
    yield con
    con.close()


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sql=statements())
def test_any_statement_gives_rows_or_a_clear_error_and_the_connection_survives(
        fuzz_con, tmp_path_factory, sql):
    try:
        result = fuzz_con.sql(sql.replace("{path}", str(tmp_path_factory.getbasetemp() / "fuzz.csv")))
        if result is not None:  # statements without rows give None, as in DuckDB
            result.fetchall()
    except (HeliumError, duckdb.Error):
        pass
    still_works(fuzz_con, sql)
