"""Row-level pipelining: a downstream LLM node starts on the rows whose upstream answers exist.

``OrderLog`` wraps the real engine and records, in order, when each prompt is issued and when
each answer arrives, so the tests can see a downstream request go out while the upstream node
still has answers to come.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import duckdb
import pytest
import sqlglot
from runtime_helpers import ITEMS

import heliumsql
from heliumsql.executor import Executor
from heliumsql.plan.physical.pipelining import partial_input, row_wise

TWO_STAGE = """WITH a AS (SELECT id, llm('Name: {name}', max_tokens => 3) AS x FROM items)
SELECT id, x, llm('Then: {x}', max_tokens => 3) AS z FROM a ORDER BY id"""
OVER_FILTER = ("SELECT id, llm('Why {name}?', max_tokens => 3) AS w FROM items "
               "WHERE id > 1 AND llm_filter('Is {descr} red?') ORDER BY id")


class OrderLog:
    """Delegates to ``engine``; ``events`` holds ("issue" | "answer", prompt text) in order."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.events: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream(self, prompts: Sequence[Any], params: Any) -> Iterator[Any]:
        texts = [self._engine.tokenizer.decode(list(p)) for p in prompts]
        self.events.extend(("issue", t) for t in texts)

        def run() -> Iterator[Any]:
            with closing(self._engine.stream(prompts, params)) as inner:
                for completion in inner:
                    self.events.append(("answer", texts[completion.index]))
                    yield completion

        return run()

    def first(self, kind: str, marker: str) -> int:
        return next(i for i, (k, t) in enumerate(self.events) if k == kind and marker in t)

    def last(self, kind: str, marker: str) -> int:
        return max(i for i, (k, t) in enumerate(self.events) if k == kind and marker in t)


def run(engine: Any, sql: str, *, pipelining: bool) -> tuple[list[tuple], Any, Any]:
    con = heliumsql.connect(engine=engine, result_cache=None)
    try:
        con.sql(ITEMS)
        executor = Executor(con.duckdb, lambda: engine, True, pipelining=pipelining)
        result, plan, stats = executor.run(sqlglot.parse_one(sql, read="helium"))
        return result.fetchall(), plan, stats
    finally:
        con.close()


def off_rows(engine: Any, sql: str) -> list[tuple]:
    con = heliumsql.connect(engine=engine, result_cache=None, optimize=False)
    try:
        con.sql(ITEMS)
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_downstream_node_starts_before_its_upstream_node_finishes(make_engine):
    engine = OrderLog(make_engine())
    rows, plan, stats = run(engine, TWO_STAGE, pipelining=True)
    assert engine.first("issue", "Then: ") < engine.last("answer", "Name: ")
    (pipe,) = stats.pipeline_runs
    assert pipe.early > 0 and pipe.wasted == 0
    downstream = stats.operators[pipe.node]
    # Each distinct prompt asked once (early or at the end), nothing computed on demand.
    assert downstream.engine_requests == downstream.distinct_prompts == len({x for _, x, _ in rows})
    assert downstream.on_demand_prompts == 0
    assert rows == off_rows(engine, TWO_STAGE)


def test_without_pipelining_the_downstream_node_waits(make_engine):
    engine = OrderLog(make_engine())
    rows, plan, stats = run(engine, TWO_STAGE, pipelining=False)
    assert engine.first("issue", "Then: ") > engine.last("answer", "Name: ")
    assert stats.pipeline_runs == ()
    assert all(n.strategy != "pipelined" for n in plan.nodes)
    assert rows == off_rows(engine, TWO_STAGE)


def test_a_map_over_a_filter_is_pipelined_without_waste(make_engine):
    engine = OrderLog(make_engine())
    rows, plan, stats = run(engine, OVER_FILTER, pipelining=True)
    asked = [t for k, t in engine.events if k == "issue" and "Why " in t]
    assert rows == off_rows(engine, OVER_FILTER)
    for pipe in stats.pipeline_runs:
        assert pipe.wasted == 0
        assert stats.operators[pipe.node].on_demand_prompts == 0
    # Only rows the filter kept were ever asked the map's question, each once.
    names = dict(duckdb.sql(ITEMS.replace("CREATE TABLE items AS", "") .strip().rstrip(";"))
                 .project("id, name").fetchall())
    assert len(asked) == len(set(asked))
    assert {n for n in set(names.values()) if any(f"Why {n}?" in t for t in asked)} == \
        {names[i] for i, _ in rows}


def test_explain_analyze_reports_pipelining(make_engine):
    # A small step budget spreads the upstream rows over several steps, so some answers exist
    # while others are pending (answers of one step are all delivered before any partial read).
    engine = make_engine(max_batch_tokens=24)
    con = heliumsql.connect(engine=engine, result_cache=None)
    try:
        con.sql(ITEMS)
        text = con.explain(TWO_STAGE, analyze=True)
    finally:
        con.close()
    assert "pipelined  " in text and "(0 wasted)" in text


@pytest.mark.parametrize("sql, expected", [
    ("SELECT concat('a', __helium_1(p)) AS prompt FROM t", True),
    ("WITH a AS (SELECT __helium_1(p) AS x FROM t) SELECT x AS prompt FROM a JOIN u ON a.x = u.y",
     True),
    ("SELECT x AS prompt FROM (SELECT __helium_1(p) AS x FROM t) s WHERE x <> ''", True),
    ("SELECT string_agg(__helium_1(p), ',') AS prompt FROM t", False),
    ("SELECT DISTINCT __helium_1(p) AS prompt FROM t", False),
    ("SELECT __helium_1(p) AS prompt FROM t ORDER BY 1 LIMIT 3", False),
    ("SELECT __helium_1(p) AS prompt FROM t GROUP BY 1", False),
    ("SELECT __helium_1(p) AS prompt FROM t LEFT JOIN u ON t.a = u.a", False),
    ("SELECT __helium_1(p) AS prompt FROM t WHERE a IN (SELECT a FROM u)", False),
    ("SELECT __helium_1(p) || row_number() OVER () AS prompt FROM t", False),
    ("SELECT __helium_1(p) AS prompt FROM t UNION ALL SELECT 'x'", False),
])
def test_only_row_wise_inputs_are_pipelined(sql, expected):
    assert row_wise(sqlglot.parse_one(sql, read="duckdb")) is expected


def test_partial_input_drops_rows_where_the_pending_answer_is_read():
    source = sqlglot.parse_one(
        "WITH a AS (SELECT id, __helium_1(concat('N', name)) AS x FROM items WHERE id > 1) "
        "SELECT concat('T', x, __helium_2(descr)) AS prompt FROM a", read="duckdb")
    text = partial_input(source, {1, 2}).sql("duckdb").lower()
    assert "from items where id > 1 and __helium_ready_1(concat('n', name))" in text
    assert text.endswith("from a where __helium_ready_2(descr)")


def test_plans_pipeline_only_sound_downstream_nodes(engine):
    con = heliumsql.connect(engine=engine, result_cache=None)
    try:
        con.sql(ITEMS)
        sqls = {
            TWO_STAGE: True,
            OVER_FILTER: True,
            # An aggregate between the stages: every upstream answer is needed first.
            "WITH a AS (SELECT name, llm('N {name}', max_tokens => 2) AS x FROM items) "
            "SELECT llm('Then {n}', max_tokens => 2) FROM (SELECT count(DISTINCT x) AS n FROM a) s": False,
        }
        for sql, expected in sqls.items():
            plan = Executor(con.duckdb, lambda: engine).plan(sqlglot.parse_one(sql, read="helium"))
            piped = [n for n in plan.nodes if n.strategy == "pipelined"]
            assert bool(piped) is expected, sql
            assert all(n.partial_sql is not None and n.upstream for n in piped)
    finally:
        con.close()



CHAIN = """WITH t1 AS (SELECT id, llm('First: {name}', max_tokens => 4) AS a FROM items),
t2 AS (SELECT id, a, llm('Second: {a}', max_tokens => 4) AS b FROM t1),
t3 AS (SELECT id, b, llm('Third: {b}', max_tokens => 4) AS c FROM t2)
SELECT id, c FROM t3 ORDER BY id"""


def test_pipelining_never_makes_a_chain_take_more_engine_steps(make_engine):
    # Rows of a stage that finish in the same engine step must go on together: reading the
    # newest stream first would run one row's next stage alone while its siblings' answers
    # wait, multiplying the steps of a chain.
    steps = {}
    for pipelining in (False, True):
        engine = make_engine()
        rows, _, _ = run(engine, CHAIN, pipelining=pipelining)
        steps[pipelining] = engine.stats()["steps"]
    assert steps[True] <= steps[False]
    assert rows == off_rows(make_engine(), CHAIN)
