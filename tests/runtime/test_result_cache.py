"""The persistent result cache: reruns and shared workflow steps compute only what is new,
writes survive a killed process, SET turns it off, and a locked file degrades gracefully."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from runtime_helpers import INSTRUCTION, WORKFLOW

from heliumsql.result_cache import ENV_VAR, ResultCache, ResultCacheWarning, default_path

FIRST_STEP = f"SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 3) AS x FROM items"


def test_rerun_answers_everything_from_the_cache(shared_engine, connect, tmp_path):
    path = tmp_path / "results.duckdb"
    first = connect(shared_engine, result_cache=path).sql(WORKFLOW)
    assert first.analyze.result_cache_hits == 0 and first.analyze.engine_requests == 24
    # A new connection (a new session) on the same file.
    again = connect(shared_engine, result_cache=path).sql(WORKFLOW)
    assert again.fetchall() == first.fetchall()
    stats = again.analyze
    assert stats.result_cache_hits == 24 and stats.engine_requests == 0
    assert stats.computed_prefill_tokens == 0 and stats.prefill_efficiency is None
    assert ResultCache(path).count() == 24


def test_a_workflow_sharing_a_step_computes_only_the_new_steps(shared_engine, connect, tmp_path):
    con = connect(shared_engine, result_cache=tmp_path / "results.duckdb")
    con.sql(FIRST_STEP)
    stats = con.sql(WORKFLOW).analyze
    x, y, z = stats.operators.values()
    assert (x.result_cache_hits, x.engine_requests) == (8, 0)
    assert y.result_cache_hits == 0 and y.engine_requests == 8 and z.engine_requests == 8


def test_set_helium_result_cache_false_disables_it(shared_engine, connect):
    con = connect(shared_engine, result_cache=":memory:")
    con.sql(FIRST_STEP)
    con.sql("SET helium_result_cache = false")
    off = con.sql(FIRST_STEP).analyze
    assert off.result_cache_hits == 0 and off.engine_requests == 8
    con.sql("SET helium_result_cache = true")
    assert con.sql(FIRST_STEP).analyze.result_cache_hits == 8


def test_key_covers_chat_formatting_parameters_and_model(shared_engine, connect, tmp_path):
    from heliumsql.engine import Engine
    from heliumsql.testing import tiny_model

    path = tmp_path / "results.duckdb"
    con = connect(shared_engine, result_cache=path)
    base = "SELECT llm('{{name}}', max_tokens => 3{extra}) FROM items"
    con.sql(base.format(extra=""))
    assert con.sql(base.format(extra="")).analyze.result_cache_hits == 8
    assert con.sql(base.format(extra=", system => 'Be terse'")).analyze.result_cache_hits == 0
    assert con.sql(base.format(extra="").replace("=> 3", "=> 4")).analyze.result_cache_hits == 0
    assert con.sql(base.format(extra=", temperature => 0.5")).analyze.result_cache_hits == 0
    other = Engine(tiny_model(tmp_path / "other", arch="llama", seed=1), device="cpu")
    assert connect(other, result_cache=path).sql(base.format(extra="")).analyze.result_cache_hits == 0


def test_filter_verdicts_come_back_from_the_cache(shared_engine, connect):
    con = connect(shared_engine, result_cache=":memory:")
    q = "SELECT id, llm_filter('Is {name} sweet?') AS ok FROM items ORDER BY id"
    first = con.sql(q)
    again = con.sql(q)
    assert again.analyze.result_cache_hits == 8
    assert again.fetchall() == first.fetchall() and all(isinstance(r[1], bool) for r in first.fetchall())


KILLED = textwrap.dedent("""
    import sys
    import heliumsql
    from heliumsql.engine import Engine
    from heliumsql.result_cache import ResultCache

    model, path = sys.argv[1:3]
    # One request at a time, so answers (and cache writes) come one by one.
    con = heliumsql.connect(engine=Engine(model, device="cpu", max_num_seqs=1),
                            result_cache=ResultCache(path, flush_rows=2, flush_seconds=60))
    con.sql("CREATE TABLE t AS SELECT range AS i FROM range(40)")
    con.sql("SELECT llm('Count {i}', max_tokens => 12) FROM t",
            progress=lambda p: print("answered", p.rows_done, flush=True))
    print("finished", flush=True)
""")


def test_a_killed_query_leaves_a_consistent_cache_and_the_rerun_reuses_it(
        shared_engine, connect, model_path, tmp_path):
    path = tmp_path / "results.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(model_path), str(path)],
                            stdout=subprocess.PIPE, text=True)
    answered = 0
    try:
        for line in proc.stdout:
            assert not line.startswith("finished"), "the query ended before it could be killed"
            answered = int(line.split()[1])
            if answered >= 10:
                break
    finally:
        proc.kill()
        proc.wait()
    assert answered >= 10
    con = connect(shared_engine, result_cache=path)
    con.sql("CREATE TABLE t AS SELECT range AS i FROM range(40)")
    query = "SELECT i, llm('Count {i}', max_tokens => 12) AS a FROM t ORDER BY i"
    rerun = con.sql(query)
    stats = rerun.analyze
    # Every pair of answers was committed before the next was reported.
    assert answered - 1 <= stats.result_cache_hits < 40
    assert stats.result_cache_hits + stats.engine_requests == 40
    fresh = connect(shared_engine)
    fresh.sql("CREATE TABLE t AS SELECT range AS i FROM range(40)")
    assert rerun.fetchall() == fresh.sql(query).fetchall()


def test_a_cache_file_locked_by_another_process_is_skipped_with_a_warning(shared_engine, connect,
                                                                          tmp_path):
    path = tmp_path / "results.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('locked', flush=True); time.sleep(120)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        con = connect(shared_engine, result_cache=ResultCache(path, lock_timeout=0.1))
        with pytest.warns(ResultCacheWarning, match="in use by another process"):
            res = con.sql(FIRST_STEP)
        assert len(res.fetchall()) == 10 and res.analyze.engine_requests == 8
    finally:
        holder.kill()
        holder.wait()
    # Once the other process is gone the cache works again.
    con.sql(FIRST_STEP)
    assert con.sql(FIRST_STEP).analyze.result_cache_hits == 8


def test_default_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_path() == str(tmp_path / "heliumsql" / "results.duckdb")
    monkeypatch.setenv(ENV_VAR, "off")
    assert default_path() is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine.duckdb"))
    assert default_path() == str(tmp_path / "mine.duckdb")


def test_a_failing_cache_write_warns_and_the_query_still_answers(shared_engine, connect, tmp_path):
    con = connect(shared_engine, result_cache=tmp_path / "results.duckdb")
    con.sql(FIRST_STEP)
    # Another session replaced the table with one the cache cannot write into.
    with ResultCache(tmp_path / "results.duckdb").session() as s:
        s.con.execute("DROP TABLE helium_results")
        s.con.execute("CREATE TABLE helium_results (key VARCHAR PRIMARY KEY)")
    with pytest.warns(ResultCacheWarning, match="result cache failed"):
        res = con.sql(WORKFLOW)
    assert len(res.fetchall()) == 10 and res.analyze.engine_requests == 24
