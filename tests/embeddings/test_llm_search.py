"""``llm_search``: top-k rows by cosine similarity, exact in DuckDB or through the HNSW index,
with the index's recall measured against brute force."""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import heliumsql
from heliumsql.errors import BindError, ExecutionError, PlanError
from heliumsql.vector_search import VectorIndexes

DOCS = """CREATE TABLE docs AS SELECT * FROM (VALUES
  (1, 'the battery lasts all day'), (2, 'battery life is poor'), (3, NULL),
  (4, 'shipping was slow'), (5, 'great screen'), (6, 'the battery lasts all day!')) t(id, body);
CREATE TABLE vecs AS SELECT id, body, llm_embed(body) AS v FROM docs"""
SEARCH = "SELECT id, score FROM llm_search(TABLE vecs, 'the battery lasts all day', column => 'v', k => 3{})"


@pytest.fixture
def con(embedding_path, engine):  # noqa: ANN001, ANN201
    connection = heliumsql.connect(engine=engine, embedding_model=embedding_path, result_cache=None)
    connection.sql(DOCS)
    yield connection
    connection.close()


@pytest.mark.slow
def test_recall_at_10_against_brute_force_on_50000_random_vectors() -> None:
    rng = np.random.default_rng(0)
    n, dim = 50_000, 32
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    con = duckdb.connect()
    con.register("raw", pa.table({"id": np.arange(n),
                                  "v": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)}))
    con.execute("CREATE TABLE points AS SELECT * FROM raw")
    indexes = VectorIndexes()
    recalls = []
    for query in rng.standard_normal((20, dim)).astype(np.float32):
        exact, run = indexes.search(con, "SELECT * FROM points", "v", query, 10, "exact")
        found, indexed = indexes.search(con, "SELECT * FROM points", "v", query, 10, "index")
        assert (run.method, indexed.method, found.num_rows) == ("exact", "index", 10)
        truth, got = exact.column("id").to_pylist(), found.column("id").to_pylist()
        recalls.append(len(set(truth) & set(got)) / 10)
        # Scores are exact cosines, best first, whichever method found the rows.
        common = set(truth) & set(got)
        by_id = dict(zip(truth, exact.column("score").to_pylist()))
        for i, score in zip(got, found.column("score").to_pylist()):
            if i in common:
                assert score == pytest.approx(by_id[i], abs=1e-5)
        assert found.column("score").to_pylist() == sorted(found.column("score").to_pylist(), reverse=True)
    assert np.mean(recalls) >= 0.95


def test_exact_and_index_find_the_same_rows_best_first(con) -> None:  # noqa: ANN001
    exact = con.sql(SEARCH.format(", method => 'exact'")).fetchall()
    indexed = con.sql(SEARCH.format(", method => 'index'")).fetchall()
    assert [i for i, _ in exact] == [i for i, _ in indexed]
    assert exact[0] == (1, pytest.approx(1.0, abs=1e-6))
    assert [s for _, s in exact] == sorted((s for _, s in exact), reverse=True)
    for (_, a), (_, b) in zip(exact, indexed):
        assert a == pytest.approx(b, abs=1e-5)


def test_output_is_the_input_rows_plus_score_and_never_a_null_vector(con) -> None:  # noqa: ANN001
    result = con.sql("SELECT * FROM llm_search(TABLE vecs, 'x', column => 'v', k => 10)")
    assert result.columns == ["id", "body", "v", "score"]
    assert sorted(r[0] for r in result.fetchall()) == [1, 2, 4, 5, 6]  # id 3 has no vector


def test_the_index_is_reused_until_the_data_changes(con) -> None:  # noqa: ANN001
    query = SEARCH.format(", method => 'index'")
    lines = [con.explain(query, analyze=True) for _ in range(2)]
    con.sql("INSERT INTO vecs SELECT 7, 'new', llm_embed('new')")
    lines.append(con.explain(query, analyze=True))
    methods = [next(l for l in t.splitlines() if l.strip().startswith("search ")) for t in lines]
    assert "built" in methods[0] and "reused" in methods[1] and "built" in methods[2]
    assert "over 6 rows" in methods[2]


def test_search_reads_vectors_made_in_the_same_query(con) -> None:  # noqa: ANN001
    rows = con.sql("SELECT id FROM llm_search((SELECT id, llm_embed(body) AS e FROM docs), "
                   "'shipping was slow', column => 'e', k => 1)").fetchall()
    assert rows == [(4,)]


def test_explain_names_the_method_without_loading_a_model(embedding_path) -> None:  # noqa: ANN001
    con = heliumsql.connect(embedding_model=embedding_path, result_cache=None)
    con.sql("CREATE TABLE t AS SELECT 1 AS id, range(32)::FLOAT[32] AS v")
    text = con.explain("SELECT * FROM llm_search(TABLE t, 'q', column => 'v', k => 5)")
    assert "LlmSearch #1" in text and "top 5 by cosine similarity, exact below" in text
    assert not con.engine_loaded


@pytest.mark.parametrize("call, error, message", [
    ("llm_search(TABLE vecs, 'q', column => 'nope')", BindError, "columns: id, body, v"),
    ("llm_search(TABLE vecs, 'q', column => 'body')", BindError, r"is VARCHAR.*FLOAT\[32\]"),
    ("llm_search(TABLE vecs, 'q', column => 'v', k => 0)", BindError, "at least 1"),
    ("llm_search(TABLE vecs, 'q')", BindError, "needs the vector column"),
    ("llm_search(TABLE vecs, body, column => 'v')", BindError, "string literal"),
    ("llm_search((SELECT v, 1 AS score FROM vecs), 'q', column => 'v')", PlanError, "score"),
])
def test_mistakes_are_named(con, call, error, message) -> None:  # noqa: ANN001
    with pytest.raises(error, match=message):
        con.sql(f"SELECT * FROM {call}")


def test_index_without_usearch_names_the_extra(con, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with pytest.raises(ExecutionError, match=r"heliumsql\[embed\]"):
        con.sql(SEARCH.format(", method => 'index'"))
    assert len(con.sql(SEARCH.format("")).fetchall()) == 3  # auto stays exact


def test_outer_filters_and_limits_stay_outside_the_search(con) -> None:  # noqa: ANN001
    """Top k of fewer rows would be other rows: a WHERE on the search's output filters its k
    rows, with the optimizer on as off."""
    query = SEARCH.format("") + " WHERE id <> 1 ORDER BY id"
    on = con.sql(query).fetchall()
    con.sql("SET helium_optimizer = false")
    assert con.sql(query).fetchall() == on and len(on) == 2
