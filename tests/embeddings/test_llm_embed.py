"""``llm_embed``: FLOAT[d] vectors that DuckDB's array functions use unchanged; identical texts
give identical vectors; NULL stays NULL; each distinct text is embedded once and cached."""

from __future__ import annotations

import subprocess
import sys

import pytest

import heliumsql
from heliumsql.errors import ModelLoadError, PlanError
from heliumsql.testing import tiny_embedding_model

DOCS = """CREATE TABLE docs AS SELECT * FROM (VALUES
  (1, 'the battery lasts all day'), (2, 'the battery lasts all day'), (3, NULL),
  (4, 'shipping was slow'), (5, 'shipping was slow'), (6, 'great screen')) t(id, body)"""


@pytest.fixture
def con(embedding_path, engine):  # noqa: ANN001, ANN201
    connection = heliumsql.connect(engine=engine, embedding_model=embedding_path,
                                   result_cache=None)
    connection.sql(DOCS)
    yield connection
    connection.close()


def test_identical_texts_have_cosine_one_and_different_texts_less(con) -> None:  # noqa: ANN001
    rows = con.sql("""SELECT a.id, b.id, array_cosine_similarity(llm_embed(a.body), llm_embed(b.body))
                      FROM docs a JOIN docs b ON a.id < b.id
                      WHERE a.body IS NOT NULL AND b.body IS NOT NULL ORDER BY ALL""").fetchall()
    same = {(1, 2), (4, 5)}
    for a, b, cosine in rows:
        if (a, b) in same:
            assert cosine == pytest.approx(1.0, abs=1e-6)
        else:
            assert cosine < 0.999, (a, b, cosine)


def test_type_is_a_fixed_size_float_array_of_the_model_dimension(con, tmp_path) -> None:  # noqa: ANN001
    assert con.sql("SELECT DISTINCT typeof(llm_embed(body)) FROM docs").fetchall() == [("FLOAT[32]",)]
    lengths = con.sql("SELECT DISTINCT len(llm_embed(body)) FROM docs WHERE body IS NOT NULL")
    assert lengths.fetchall() == [(32,)]
    wider = tiny_embedding_model(tmp_path / "wide", hidden_size=48)
    typed = con.sql(f"SELECT typeof(llm_embed('x', model => '{wider}'))").fetchall()
    assert typed == [("FLOAT[48]",)]


def test_null_text_gives_null_vector(con) -> None:  # noqa: ANN001
    assert con.sql("SELECT llm_embed(body) IS NULL FROM docs WHERE id = 3").fetchall() == [(True,)]
    assert con.sql("SELECT llm_embed(NULL::VARCHAR) IS NULL").fetchall() == [(True,)]


def test_each_distinct_text_is_embedded_once(con) -> None:  # noqa: ANN001
    result = con.sql("SELECT id, llm_embed(body) FROM docs")
    stats = result.analyze.operators[1]
    assert (stats.rows_in, stats.distinct_prompts, stats.engine_requests) == (6, 3, 3)
    assert "strategy  embed: each distinct text once" in con.explain(
        "SELECT id, llm_embed(body) FROM docs")


def test_rerun_is_answered_by_the_result_cache(embedding_path, engine) -> None:  # noqa: ANN001
    con = heliumsql.connect(engine=engine, embedding_model=embedding_path, result_cache=":memory:")
    con.sql(DOCS)
    query = "SELECT id, llm_embed(body) AS v FROM docs ORDER BY id"
    first = con.sql(query)
    second = con.sql(query)
    assert first.fetchall() == second.fetchall()
    assert first.analyze.operators[1].engine_requests == 3
    assert (second.analyze.operators[1].engine_requests,
            second.analyze.operators[1].result_cache_hits) == (0, 3)


def test_optimizer_on_and_off_give_the_same_rows(con) -> None:  # noqa: ANN001
    query = "SELECT id, llm_embed(body) AS v FROM docs WHERE id > 1 ORDER BY id"
    on = con.sql(query).fetchall()
    con.sql("SET helium_optimizer = false")
    assert con.sql(query).fetchall() == on


def test_without_an_embedding_model_the_llm_is_mean_pooled(model_path) -> None:  # noqa: ANN001
    con = heliumsql.connect(model=model_path, result_cache=None)
    assert con.explain("SELECT llm_embed('hi')") and not con.engine_loaded
    (kind, cosine), = con.sql("SELECT typeof(llm_embed('hi')), "
                              "array_cosine_similarity(llm_embed('hi'), llm_embed('hi' || ''))").fetchall()
    assert kind == "FLOAT[64]" and cosine == pytest.approx(1.0, abs=1e-6)


def test_a_connection_made_from_an_engine_needs_an_embedding_model(engine) -> None:  # noqa: ANN001
    con = heliumsql.connect(engine=engine, result_cache=None)
    with pytest.raises(PlanError, match="embedding_model=PATH"):
        con.sql("SELECT llm_embed('hi')")


def test_a_missing_extra_is_named(embedding_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ModelLoadError, match=r"heliumsql\[embed\]"):
        heliumsql.connect(embedding_model=embedding_path, result_cache=None).sql(
            "SELECT llm_embed('hi')")


def test_importing_heliumsql_imports_no_optional_extra() -> None:
    code = ("import sys, heliumsql; con = heliumsql.connect(result_cache=None); "
            "con.sql('SELECT 1'); print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('sentence_transformers', 'usearch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_another_model_does_not_read_the_first_ones_cached_vectors(embedding_path, engine,
                                                                  tmp_path) -> None:  # noqa: ANN001
    from heliumsql.result_cache import ResultCache

    cache = ResultCache(":memory:")
    other = tiny_embedding_model(tmp_path / "other", seed=1)
    query = "SELECT llm_embed(body) FROM docs"
    runs = []
    for path in (embedding_path, other, embedding_path):
        con = heliumsql.connect(engine=engine, embedding_model=path, result_cache=cache)
        con.sql(DOCS)
        runs.append(con.sql(query).analyze.operators[1])
    assert [r.result_cache_hits for r in runs] == [0, 0, 3]


def test_statements_that_only_embed_load_no_llm(embedding_path) -> None:  # noqa: ANN001
    con = heliumsql.connect(embedding_model=embedding_path, result_cache=None)
    con.sql(DOCS)
    rows = con.sql("SELECT id, CASE WHEN id > 4 THEN len(llm_embed(body)) END AS n, "
                   "len(llm_embed(body)) AS m FROM docs ORDER BY id").fetchall()
    assert rows[0] == (1, None, 32) and rows[2] == (3, None, None) and rows[4] == (5, 32, 32)
    found = con.sql("SELECT id FROM llm_search((SELECT id, llm_embed(body) AS v FROM docs), "
                    "'great screen', column => 'v', k => 1)").fetchall()
    assert found == [(6,)] and not con.engine_loaded


def test_duckdb_udf_gives_connects_vectors_and_null_for_null(con, embedding_path, engine,
                                                             tmp_path) -> None:  # noqa: ANN001
    import duckdb

    import heliumsql.duckdb as hdb

    plain = duckdb.connect()
    plain.execute(DOCS)
    functions = hdb.register(plain, engine=engine, embedding_model=embedding_path)
    udf = dict(plain.sql("SELECT id, llm_embed(body) FROM docs").fetchall())
    want = dict(con.sql("SELECT id, llm_embed(body) FROM docs").fetchall())
    assert udf[3] is None and want[3] is None
    assert {k: list(v) for k, v in udf.items() if v is not None} == \
           {k: list(v) for k, v in want.items() if v is not None}
    assert plain.sql("SELECT DISTINCT typeof(llm_embed(body)) FROM docs").fetchall() == [("FLOAT[]",)]
    # cast to the model's width, DuckDB's array functions take it
    cosine = plain.sql("SELECT array_cosine_similarity(llm_embed(a.body)::FLOAT[32], "
                       "llm_embed(b.body)::FLOAT[32]) FROM docs a, docs b "
                       "WHERE a.id = 1 AND b.id = 2").fetchall()[0][0]
    assert cosine == pytest.approx(1.0, abs=1e-6)
    wider = tiny_embedding_model(tmp_path / "wide", hidden_size=48)
    assert plain.sql(f"SELECT len(llm_embed('x', model => '{wider}'))").fetchall() == [(48,)]
    assert functions.stats()["embedded"] > 0 and "generated" not in functions.stats()
    # a registration on an engine alone has no LLM weights to mean-pool
    bare = duckdb.connect()
    hdb.register(bare, engine=engine)
    with pytest.raises(duckdb.Error, match="needs a local embedding model"):
        bare.sql("SELECT llm_embed('x')").fetchall()
