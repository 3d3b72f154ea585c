"""The optimizer (rules plus workflow scheduling) never changes a query's rows."""

from __future__ import annotations

import pytest
from runtime_helpers import INSTRUCTION, WORKFLOW

QUERIES = [
    WORKFLOW,
    # Independent calls, a dependent one, a join of their CTEs.
    f"""WITH a AS (SELECT id, llm('{INSTRUCTION} {{name}}', max_tokens => 2) AS x FROM items),
             b AS (SELECT id, llm('{INSTRUCTION} {{descr}}', max_tokens => 4) AS y FROM items),
             c AS (SELECT id, llm('Then {{x}}', max_tokens => 2) AS z FROM a)
        SELECT b.id, y, z FROM b JOIN c ON b.id = c.id""",
    # A filter feeding a map, repeated prompts, a system prompt.
    "SELECT id, llm('Why {name}?', max_tokens => 3, system => 'Be brief') AS w FROM items "
    "WHERE id > 2 AND llm_filter('Is {descr} red?')",
    # Aggregate over an LLM column, then a call over the aggregate.
    """WITH d AS (SELECT name, llm('Describe {descr}', max_tokens => 2) AS d FROM items),
            g AS (SELECT name, llm_agg('Summarize: {d}', max_tokens => 3) AS s FROM d GROUP BY name)
       SELECT name, s, llm('Rate {s}', max_tokens => 2) AS r FROM g""",
    # Two LLM filters of one WHERE (an adaptive chain), one negated, feeding a map.
    "SELECT id, llm('Why {name}?', max_tokens => 2) AS w FROM items WHERE NOT llm_filter('Is {descr} red?') "
    "AND llm_filter('A longer question about the fruit called {name}: is it rare?') AND id > 1",
    # Table function with samples, then a call over its output.
    """SELECT name, sample, output, llm('Judge {output}', max_tokens => 2) AS j
       FROM llm_map((SELECT DISTINCT name FROM items WHERE id < 4), 'Idea for {name}',
                    n => 2, max_tokens => 3)""",
]


@pytest.mark.parametrize("query", QUERIES, ids=["workflow", "pipeline", "filter", "agg", "chain", "map"])
def test_optimizer_on_and_off_give_the_same_rows(shared_engine, connect, query):
    on = connect(shared_engine).sql(query).fetchall()
    off = connect(shared_engine, optimize=False).sql(query).fetchall()
    assert sorted(on, key=repr) == sorted(off, key=repr)
    assert on  # every query returns rows
