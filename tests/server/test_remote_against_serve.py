"""HeliumSQL's remote backend against HeliumSQL's own server: ``connect(model="openai:NAME",
base_url=...)`` pointed at ``heliumsql serve`` (both through the real ``openai`` client and a
loopback HTTP server) gives the same rows as a local connection on the same model, for every LLM
function and a multi-stage workflow (greedy)."""

from __future__ import annotations

import pytest
from conftest import Served

import heliumsql
from heliumsql.engine import Engine

ITEMS = ("CREATE TABLE items AS SELECT * FROM (VALUES (1, 'apple', 'red fruit, sweet'), "
         "(2, 'banana', 'yellow fruit'), (3, 'cherry', 'red, small'), (4, 'apple', 'red fruit, "
         "sweet'), (5, 'kiwi', 'green, fuzzy')) t(id, name, descr)")
INSTRUCTION = "You are a careful analyst. Read the record below and answer in one word. "
QUERIES = {
    "llm": "SELECT id, llm('Say {name}', max_tokens => 3) AS a FROM items ORDER BY id",
    "llm_system": "SELECT id, llm('Name: {name}', system => 'Be brief.', max_tokens => 4) AS a "
                  "FROM items ORDER BY id",
    "llm_filter": "SELECT id FROM items WHERE llm_filter('Red? {descr}') ORDER BY id",
    "llm_agg": "SELECT name, llm_agg('Sum up: {descr}', max_tokens => 3) AS s FROM items "
               "GROUP BY name ORDER BY name",
    "llm_map": "SELECT id, a FROM llm_map(TABLE items, 'Say {name}', as => 'a', max_tokens => 3) "
               "ORDER BY id",
    "workflow": f"""
        WITH a AS (SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 3) AS x,
                              llm('{INSTRUCTION} About: {{descr}}', max_tokens => 3) AS y FROM items)
        SELECT id, x, y, llm('{INSTRUCTION} Combine: {{x}} / {{y}}', max_tokens => 3) AS z
        FROM a ORDER BY id""",
}


def rows(con: heliumsql.Connection, sql: str) -> list[tuple]:
    con.sql(ITEMS)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_remote_backend_on_heliumsql_serve_gives_the_local_rows(served: Served, reference: Engine,
                                                                name: str) -> None:
    local = rows(heliumsql.connect(engine=reference, result_cache=None), QUERIES[name])
    steps = served.engine.stats()["steps"]
    remote = rows(heliumsql.connect(model=f"openai:{served.model}", base_url=served.base_url,
                                    api_key=served.api_key, result_cache=None), QUERIES[name])
    assert remote == local
    assert served.engine.stats()["steps"] > steps  # the server's engine did the work


def test_the_shell_reaches_a_remote_model_with_base_url(served: Served, reference: Engine) -> None:
    import csv
    import io
    import subprocess
    import sys

    sql = ITEMS + "; " + QUERIES["llm"]
    local = rows(heliumsql.connect(engine=reference, result_cache=None), QUERIES["llm"])
    done = subprocess.run(
        [sys.executable, "-m", "heliumsql.repl.cli", "--model", f"openai:{served.model}",
         "--base-url", served.base_url, "--api-key", served.api_key, "--mode", "csv", "-c", sql],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    header, *got = csv.reader(io.StringIO(done.stdout))
    assert header == ["id", "a"]
    assert got == [[str(i), a] for i, a in local]
