"""HeliumSQL's remote backend against HeliumSQL's own server: ``connect(model="openai:NAME",
base_url=...)`` pointed at ``heliumsql serve`` (both through the real ``openai`` client and a
loopback HTTP server) gives the same rows as a local connection on the same model, for every LLM
function and a multi-stage workflow (greedy)."""

from __future__ import annotations

import pytest
from serving import Served
from remote_queries import ITEMS, QUERIES, TYPED

import heliumsql
from heliumsql.engine import Engine

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


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_calls_go_out_with_their_schema_and_give_the_local_rows(
        served: Served, reference: Engine, name: str) -> None:
    # The server decodes under the schema sent as response_format, as the local engine does
    # under the call's own: a random-weight model's free answer would almost never parse.
    local = rows(heliumsql.connect(engine=reference, result_cache=None), TYPED[name])
    con = heliumsql.connect(model=f"openai:{served.model}", base_url=served.base_url,
                            api_key=served.api_key, result_cache=None)
    assert rows(con, TYPED[name]) == local
    assert not con.engine.refused_schemas  # the server took every schema (no fallback)
    assert all(v is not None for row in local for v in row)


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
