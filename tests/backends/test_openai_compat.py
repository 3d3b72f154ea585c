"""``connect(model="openai:NAME", base_url=...)`` against a real loopback server answering with
the suite's tiny engine, through the real ``openai`` client: the same rows as the local engine,
requests in prefix-tree order under bounded concurrency, retries where they should succeed,
clear errors where they cannot, a rerun that sends only what is missing, and the request budget.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time

import pytest
from faulty_openai_server import Fault, FaultyOpenAIServer

import heliumsql
from heliumsql.backends.openai_compat import OpenAICompatBackend
from heliumsql.connection import Connection
from heliumsql.engine import Engine, SamplingParams
from heliumsql.errors import ExecutionError, PlanError
from remote_queries import ITEMS, NAMES, NUM_NAMES, QUERIES, SAY, TYPED

def remote(server: FaultyOpenAIServer, **options: object) -> Connection:
    options.setdefault("result_cache", None)
    con = heliumsql.connect(model="openai:tiny", base_url=server.base_url, api_key="test",
                            **options)
    con.sql(ITEMS)
    return con


def local(engine: Engine, sql: str) -> list[tuple]:
    con = heliumsql.connect(engine=engine, result_cache=None)
    con.sql(ITEMS)
    return con.sql(sql).fetchall()


@pytest.mark.parametrize("name", list(QUERIES))
def test_remote_rows_equal_the_local_engines(server, engine, name: str) -> None:
    expected = local(engine, QUERIES[name])
    assert remote(server).sql(QUERIES[name]).fetchall() == expected
    assert server.num_requests == len(server.answered) > 0  # each answered once, none failed


def test_generation_parameters_go_through_and_samples_get_their_own_seeds(server) -> None:
    sql = ("SELECT id, a FROM llm_map(TABLE items, 'Say {name}', as => 'a', n => 2, "
           "max_tokens => 4, temperature => 0.5, top_p => 0.9, top_k => 5, stop => ['x']) "
           "WHERE name = 'kiwi'")
    remote(server).sql(sql).fetchall()
    first = server.bodies
    assert len(first) == 2  # one request per sample
    for body in first:
        assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"],
                body["top_k"], body["stop"]) == ("tiny", 4, 0.5, 0.9, 5, ["x"])
    assert first[0]["seed"] != first[1]["seed"]
    server.reset()
    remote(server).sql(sql).fetchall()  # derived seeds: the same requests again
    assert sorted(b["seed"] for b in server.bodies) == sorted(b["seed"] for b in first)


def test_requests_go_out_in_prefix_tree_order_one_at_a_time(server) -> None:
    remote(server, max_concurrency=1).sql(SAY).fetchall()
    # Identical prompts merged, the rest sent in the sorted order of their token ids.
    assert server.arrivals == sorted(set(server.arrivals))
    assert len(server.arrivals) == NUM_NAMES and server.max_in_flight == 1


def test_concurrency_is_bounded(server) -> None:
    server.faults.extend(Fault("slow", delay=0.2) for _ in range(NUM_NAMES))
    remote(server, max_concurrency=3).sql(SAY).fetchall()
    assert server.max_in_flight == 3


def test_usage_reaches_explain_analyze_and_stats(server) -> None:
    con = remote(server)
    text = con.explain(QUERIES["workflow"], analyze=True)
    stats = con.engine.stats()
    assert stats["requests"] == server.num_requests > 0
    assert stats["cached_tokens"] > 0  # the server's prefix cache hit the shared instruction
    assert f"cached_tokens={stats['cached_tokens']}" in text
    assert f"prompt_tokens={stats['prompt_tokens']}" in text
    assert f"computed_prefill_tokens={stats['prompt_tokens'] - stats['cached_tokens']}" in text


def test_rate_limit_honours_retry_after_then_succeeds(server, engine) -> None:
    server.faults.append(Fault("status", status=429, retry_after=1))
    started = time.monotonic()
    assert remote(server).sql(SAY).fetchall() == local(engine, SAY)
    assert time.monotonic() - started >= 1.0
    assert server.num_requests == NUM_NAMES + 1


def test_intermittent_server_errors_are_retried(server, engine) -> None:
    server.faults.extend([Fault("status", status=500), Fault("status", status=503),
                          Fault("status", status=500)])
    assert remote(server, max_retries=3).sql(SAY).fetchall() == local(engine, SAY)
    assert server.num_requests == NUM_NAMES + 3


def test_an_answer_slower_than_the_timeout_is_retried(server, engine) -> None:
    server.faults.append(Fault("slow", delay=2.0))
    assert remote(server, timeout=0.5).sql(SAY).fetchall() == local(engine, SAY)
    assert server.num_requests == NUM_NAMES + 1


def test_a_malformed_answer_is_an_error_naming_the_endpoint(server) -> None:
    server.faults.append(Fault("malformed"))
    with pytest.raises(ExecutionError, match=rf"{server.base_url} sent a malformed answer"):
        remote(server, max_concurrency=1).sql(SAY).fetchall()


def test_a_lasting_failure_names_endpoint_status_and_row_and_a_rerun_sends_only_the_missing(
        server, engine, tmp_path) -> None:
    cache = tmp_path / "cache.duckdb"
    server.failing.add("cherry")
    with pytest.raises(ExecutionError) as info:
        remote(server, max_retries=1, result_cache=cache).sql(SAY).fetchall()
    message = str(info.value)
    assert server.base_url in message and "HTTP 500" in message and "'Say cherry'" in message
    kept = set(server.answered)
    assert "Say cherry" not in kept and kept  # the others in flight were answered and kept
    server.reset()
    assert remote(server, result_cache=cache).sql(SAY).fetchall() == local(engine, SAY)
    assert not set(server.arrivals) & kept
    assert server.num_requests == NUM_NAMES - len(kept)


def test_a_lasting_failure_gives_null_under_on_error_and_a_rerun_asks_only_for_it(
        server, engine, tmp_path) -> None:
    cache = tmp_path / "cache.duckdb"
    server.failing.add("cherry")
    tolerant = SAY.replace("max_tokens => 3", "max_tokens => 3, on_error => 'null'")
    rows = remote(server, max_retries=1, result_cache=cache).sql(tolerant).fetchall()
    expected = local(engine, SAY)
    cherry = NAMES.index("cherry") + 1
    assert rows == [(i, None if i == cherry else a) for i, a in expected]
    # The others were all sent (the failure stopped nothing); cherry was tried twice.
    assert server.num_requests == NUM_NAMES + 1
    assert "Say cherry" not in server.answered
    # A filter's failed row is NULL: neither kept nor dropped as a "no".
    server.reset()
    server.failing.add("cherry")
    nulls = remote(server, max_retries=0).sql(
        "SELECT id FROM items WHERE llm_filter('Long? {name}', on_error => 'null') IS NULL"
    ).fetchall()
    assert nulls == [(cherry,)]
    # The NULL was not cached: the rerun sends only the missing prompt and gets its answer.
    server.reset()
    assert remote(server, result_cache=cache).sql(tolerant).fetchall() == expected
    assert server.arrivals == ["Say cherry"]


def test_answers_of_other_endpoints_or_models_never_mix(server, tmp_path) -> None:
    cache = tmp_path / "cache.duckdb"
    first = remote(server, result_cache=cache)
    first.sql(SAY).fetchall()
    assert server.num_requests == NUM_NAMES
    other = heliumsql.connect(model="openai:tiny-2", base_url=server.base_url, api_key="t",
                              result_cache=cache)
    other.sql(ITEMS)
    other.sql(SAY).fetchall()  # the test server serves any model name with the same engine
    assert server.num_requests == 2 * NUM_NAMES
    assert first.engine.fingerprint != other.engine.fingerprint
    remote(server, result_cache=cache).sql(SAY).fetchall()
    assert server.num_requests == 2 * NUM_NAMES  # the same endpoint and model: all cached


def test_max_requests_refuses_before_sending_anything(server) -> None:
    with pytest.raises(ExecutionError, match=rf"would send at least {NUM_NAMES} requests to "
                                             rf"{server.base_url}.* helium_max_requests = 3"):
        remote(server, max_requests=3).sql(SAY).fetchall()
    assert server.num_requests == 0
    con = remote(server)
    con.sql("SET helium_max_requests = 5")
    with pytest.raises(ExecutionError, match="helium_max_requests = 5"):
        con.sql(SAY).fetchall()
    assert server.num_requests == 0
    con.sql(f"SET helium_max_requests = {NUM_NAMES}")  # exactly enough; counted per statement
    con.sql(SAY).fetchall()
    con.sql(SAY.replace("Say", "Tell")).fetchall()
    assert server.num_requests == 2 * NUM_NAMES
    with pytest.raises(PlanError, match="whole number of requests, or NULL"):
        con.sql("SET helium_max_requests = 'many'")
    con.sql("SET helium_max_requests = NULL")  # no limit again
    con.sql(SAY.replace("Say", "Name")).fetchall()
    assert server.num_requests == 3 * NUM_NAMES


def test_filter_falls_back_to_the_free_answer_without_structured_output(server) -> None:
    server.structured, server.free_answer = False, "Yes."
    rows = remote(server, max_concurrency=1).sql(
        "SELECT count(*) FROM items WHERE llm_filter('Red? {descr}')").fetchall()
    assert rows == [(10,)]
    # One refused guided_choice, one refused schema, then free answers.
    assert server.num_requests == NUM_NAMES + 2


def test_a_typed_call_sends_its_schema_and_reads_free_answers_where_refused(server) -> None:
    server.structured, server.free_answer = False, "4"
    rows = remote(server, max_concurrency=1).sql(TYPED["llm_score"]).fetchall()
    assert [(s, t) for _, s, t in rows] == [(4, "INTEGER")] * 10
    first = server.bodies[0]["response_format"]
    assert first["type"] == "json_schema"
    assert first["json_schema"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 5}
    # One refused request, then free answers without the schema.
    assert server.num_requests == NUM_NAMES + 1
    assert all("response_format" not in b for b in server.bodies[2:])
    server.reset()
    server.free_answer = "four"
    with pytest.raises(ExecutionError, match="is not a INTEGER.*on_error => 'null'"):
        remote(server, structured_output=False).sql(TYPED["llm_score"]).fetchall()
    assert all("response_format" not in b for b in server.bodies)


def test_a_refused_scalar_schema_leaves_object_schemas_constrained(server, engine) -> None:
    # Like OpenAI's hosted API: no guided_choice, object-root schemas taken, an integer refused.
    server.guided, server.free_answer = False, "4"
    con = remote(server, max_concurrency=1)
    assert [s for _, s, _ in con.sql(TYPED["llm_score"]).fetchall()] == [4] * 10
    (refused,) = con.engine.refused_schemas  # the integer schema, and only it
    assert json.loads(refused) == server.bodies[0]["response_format"]["json_schema"]["schema"]
    server.free_answer = None
    sql = "SELECT id FROM items WHERE llm_filter('Red? {descr}') ORDER BY id"
    assert con.sql(sql).fetchall() == local(engine, sql)
    # One refused guided_choice, then every filter request constrained by its object schema.
    filters = [b for b in server.bodies if "Red?" in b["messages"][-1]["content"]]
    assert len(filters) == NUM_NAMES + 1
    assert all(b["response_format"]["json_schema"]["name"] == "choice" for b in filters[1:])


def test_a_bad_request_the_free_answer_also_gets_disables_no_constraint(server) -> None:
    # A 400 that is not about the constraint (here: every form of the first row's request)
    # fails the statement but does not make later requests go unconstrained.
    server.faults.extend(Fault("status", status=400) for _ in range(3))
    con = remote(server, max_concurrency=1)
    sql = "SELECT count(*) FROM items WHERE llm_filter('Red? {descr}')"
    with pytest.raises(ExecutionError):
        con.sql(sql).fetchall()
    assert con.engine.guided_choices and not con.engine.refused_schemas
    server.reset()
    con.sql(sql).fetchall()
    assert all("guided_choice" in b for b in server.bodies) and len(server.bodies) == NUM_NAMES


def test_an_unparsable_filter_answer_names_the_row_or_gives_null(server) -> None:
    server.free_answer = "perhaps"
    con = remote(server)
    with pytest.raises(ExecutionError, match=r"'perhaps' to the row whose prompt is 'Long\? "):
        con.sql("SELECT id FROM items WHERE llm_filter('Long? {name}')").fetchall()
    rows = con.sql("SELECT count(*) FROM items "
                   "WHERE llm_filter('Long? {name}', on_error => 'null') IS NULL").fetchall()
    assert rows == [(10,)]


def test_importing_heliumsql_does_not_import_openai_and_its_absence_is_explained() -> None:
    script = (
        "import sys, heliumsql\n"
        "con = heliumsql.connect(model='openai:m', base_url='http://127.0.0.1:9/v1')\n"
        "assert 'openai' not in sys.modules\n"
        "sys.modules['openai'] = None\n"  # as if the package were not installed
        "try:\n"
        "    con.sql(\"SELECT llm('hi') AS a\").fetchall()\n"
        "except heliumsql.ModelLoadError as exc:\n"
        "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'heliumsql[remote]'" in out.stdout


def test_a_dropped_connection_leaves_no_thread_behind(server) -> None:
    def loop_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "heliumsql-openai"}

    before = loop_threads()
    con = remote(server)
    con.sql(SAY).fetchall()
    assert loop_threads() - before  # its requests ran on a background loop
    con.close()
    del con
    gc.collect()
    deadline = time.monotonic() + 5
    while loop_threads() - before:
        assert time.monotonic() < deadline, "the backend's loop thread outlived its connection"
        time.sleep(0.05)


def test_the_client_reads_openai_base_url_and_key_from_the_environment(server, monkeypatch,
                                                                       engine) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    con = heliumsql.connect(model="openai:tiny", result_cache=None)
    con.sql(ITEMS)
    assert con.sql(SAY).fetchall() == local(engine, SAY)
    assert con.engine.fingerprint == f"openai:{server.base_url}#tiny"


def test_cancel_stops_sending_and_generate_keeps_request_order(server) -> None:
    backend = OpenAICompatBackend("tiny", base_url=server.base_url, max_concurrency=1)
    params = SamplingParams(max_tokens=2)
    prompts = [f"Say {n}" for n in NAMES[:6]]
    assert [c.index for c in backend.generate(prompts, params)] == list(range(6))
    server.reset()
    server.faults.extend(Fault("slow", delay=0.3) for _ in prompts)
    stream = backend.stream(prompts, params)
    first = next(stream)
    backend.cancel(stream)
    assert first.index == 0 and list(stream) == []
    time.sleep(0.8)  # what was still queued is never sent
    assert server.num_requests <= 2


def test_cancelled_streams_give_back_every_concurrency_slot(server) -> None:
    """A stream cancelled at once (as a LIMIT does) must not keep slots: requests cancelled
    before they ever ran used to hold theirs, and later statements then waited for ever."""
    backend = OpenAICompatBackend("tiny", base_url=server.base_url, max_concurrency=4)
    params = SamplingParams(max_tokens=2)
    prompts = [f"Say {n}" for n in NAMES]
    for _ in range(5):
        backend.cancel(backend.stream(prompts, params))
    done: list = []
    worker = threading.Thread(target=lambda: done.extend(backend.generate(prompts[:4], params)))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and [c.index for c in done] == [0, 1, 2, 3]


def test_a_limit_that_cancels_requests_leaves_the_backend_usable(server, engine) -> None:
    """``LIMIT`` over a filter cancels the requests it no longer needs; with one concurrency slot
    the next statement used to wait for ever for the slot a cancelled request kept."""
    con = remote(server, max_concurrency=1)
    limited = "SELECT id FROM items WHERE llm_filter('Keep? {descr}') ORDER BY id LIMIT 1"
    done: list = []

    def run() -> None:
        done.append(con.sql(limited).fetchall())
        done.append(con.sql(SAY).fetchall())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the statement after the LIMIT never got a slot"
    assert done == [local(engine, limited), local(engine, SAY)]
