"""A remote model (``openai:NAME`` with ``base_url`` and ``api_key``) where users meet
HeliumSQL besides ``connect``: ``heliumsql.duckdb.register`` and the ``%%hsql`` magic, both
against ``heliumsql serve`` on loopback, giving the rows the local engine gives."""

from __future__ import annotations

import duckdb
import pytest
from serving import Served
from remote_queries import ITEMS

import heliumsql
import heliumsql.duckdb as hdb
from heliumsql.engine import Engine

UDF_QUERY = """
    SELECT name,
           llm('Say ' || name, max_tokens => 3) AS said,
           llm_filter('Red? ' || descr) AS red,
           llm_classify('Ticket: ' || descr, ['bug', 'feature', 'question']) AS kind,
           llm_score('Rate ' || name, 1, 5) AS score,
           (SELECT llm_agg('Sum up: {}', descr, max_tokens => 3) FROM items) AS summary
    FROM items ORDER BY id"""


def udf_rows(**register: object) -> tuple[list[tuple], hdb.LLMFunctions]:
    con = duckdb.connect()
    con.execute(ITEMS)
    functions = hdb.register(con, **register)
    try:
        return con.sql(UDF_QUERY).fetchall(), functions
    finally:
        con.close()


def test_duckdb_udfs_on_a_remote_model_give_the_local_rows(served: Served,
                                                          reference: Engine) -> None:
    local, _ = udf_rows(engine=reference)
    steps = served.engine.stats()["steps"]
    remote, functions = udf_rows(model=f"openai:{served.model}", base_url=served.base_url,
                                 api_key=served.api_key)
    assert remote == local
    assert {row[2] for row in remote} == {True, False}  # both verdicts occur
    # The typed UDFs' schemas went out as response_format (the server decoded under them).
    assert not functions.engine.refused_schemas
    assert served.engine.stats()["steps"] > steps  # the server did the work
    assert functions.stats()["engine_requests"] == functions.stats()["generated"]


def test_duckdb_udfs_name_a_wrong_key(served: Served) -> None:
    with pytest.raises(duckdb.Error, match="HTTP 401.*api_key"):
        udf_rows(model=f"openai:{served.model}", base_url=served.base_url, api_key="wrong",
                 max_retries=0)


def test_the_cell_magic_opens_a_remote_connection(served: Served, reference: Engine) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    query = "SELECT id, llm('Say {name}', max_tokens => 3) AS a FROM items ORDER BY id"
    local = heliumsql.connect(engine=reference, result_cache=None)
    local.sql(ITEMS)
    expected = local.sql(query).df()
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "heliumsql")
        steps = served.engine.stats()["steps"]
        result = shell.run_cell(
            f"%%hsql --model openai:{served.model} --base-url {served.base_url} "
            f"--api-key {served.api_key} -o out\n{ITEMS}")
        assert result.error_in_exec is None, result.error_in_exec
        # The remote connection stays the default for the next cell.
        result = shell.run_cell(f"%%hsql -o out\n{query}")
        assert result.error_in_exec is None, result.error_in_exec
        assert shell.user_ns["out"].equals(expected)
        assert served.engine.stats()["steps"] > steps
        result = shell.run_cell("%%hsql --base-url http://elsewhere/v1\nSELECT 1")
        assert "go with --model" in str(result.error_in_exec)
    finally:
        InteractiveShell.clear_instance()
