"""Engine replicas on a local Ray instance: the same rows as one engine, per-replica figures
that add up to the query's, a replica killed mid-query changes no row, a clear error without
Ray. One Ray instance and one 2-replica cluster serve the whole module (starting them takes
seconds). Each replica asks Ray for half a CPU, so a second cluster (the fault test's) fits
next to the module's on two CPUs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import heliumsql
from heliumsql.engine import Engine
from heliumsql.errors import ModelLoadError
from remote_queries import ITEMS, QUERIES

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster(model_path: Any) -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    con = heliumsql.connect(model=model_path, cluster="ray", replicas=2, num_cpus=0.5,
                            result_cache=None)
    con.sql(ITEMS)
    try:
        yield con
    finally:
        con.close()
        ray.shutdown()


@pytest.fixture(scope="module")
def single(engine: Engine) -> Iterator[Any]:
    con = heliumsql.connect(engine=engine, result_cache=None)
    con.sql(ITEMS)
    yield con
    con.close()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_same_rows_as_one_engine(cluster: Any, single: Any, name: str) -> None:
    assert cluster.sql(QUERIES[name]).fetchall() == single.sql(QUERIES[name]).fetchall()


def test_per_replica_figures_add_up_to_the_query(cluster: Any) -> None:
    query = QUERIES["workflow"].replace("max_tokens => 3", "max_tokens => 4")  # not cached yet
    stats = cluster.sql(query).analyze
    assert len(stats.replicas) == 2
    assert sum(r.requests for r in stats.replicas) == stats.engine_requests > 0
    assert sum(r.computed_prefill_tokens for r in stats.replicas) == stats.computed_prefill_tokens
    assert sum(r.prompt_tokens for r in stats.replicas) == stats.prompt_tokens
    # Both replicas served: the rows' prefixes differ enough to spread them.
    assert all(r.requests > 0 for r in stats.replicas)
    text = cluster.explain(query.replace("max_tokens => 4", "max_tokens => 5"), analyze=True)
    assert "replica 0  requests=" in text and "replica 1  requests=" in text


def test_without_ray_the_error_names_the_extra(model_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    con = heliumsql.connect(model=model_path, cluster="ray", replicas=2, result_cache=None)
    with pytest.raises(ModelLoadError, match=r"pip install 'heliumsql\[ray\]'"):
        con.sql("SELECT llm('hi', max_tokens => 2)")
    con.close()


def test_more_replicas_than_the_cluster_holds_is_refused(cluster: Any, model_path: Any) -> None:
    con = heliumsql.connect(model=model_path, cluster="ray", replicas=8, result_cache=None)
    with pytest.raises(ModelLoadError, match="8 replicas with 1 CPU each need 8 CPUs; the Ray "
                                             "cluster has 2"):
        con.sql("SELECT llm('hi', max_tokens => 2)")
    con.close()


def test_replicas_without_a_cluster_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="cluster='ray'"):
        heliumsql.connect(replicas=2)


# Last: it kills a replica of the module's cluster.
def test_a_replica_killed_mid_query_changes_no_row(cluster: Any, single: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    query = QUERIES["workflow"].replace("max_tokens => 3", "max_tokens => 6")  # not cached yet
    backend = cluster.engine
    dispatch, killed = backend.dispatch, []

    def dispatch_then_kill(stream: Any, indices: list[int], retry: bool) -> None:
        dispatch(stream, indices, retry)
        if not killed and backend.router.loads[0] > 0:  # replica 0 has requests in flight
            ray.kill(backend.actors[0])
            killed.append(0)

    monkeypatch.setattr(backend, "dispatch", dispatch_then_kill)
    result = cluster.sql(query)
    assert killed
    assert result.fetchall() == single.sql(query).fetchall()
    figures = result.analyze.replicas
    assert not figures[0].alive and figures[1].alive
    assert figures[1].retries > 0  # replica 0's unanswered requests went to replica 1
    assert sum(f.requests for f in figures) == result.analyze.engine_requests
    assert backend.num_queued() == 0  # re-sent requests are not counted twice
    # Later queries run on the replica left.
    assert cluster.sql(QUERIES["llm"]).fetchall() == single.sql(QUERIES["llm"]).fetchall()
