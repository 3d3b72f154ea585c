"""heliumsql.duckdb.register: LLM functions on a plain DuckDB connection."""

from __future__ import annotations

import threading

import duckdb
import pytest

import heliumsql.duckdb as hdb
from heliumsql.errors import ModelLoadError


@pytest.fixture()
def con(engine):
    con = duckdb.connect()
    con.execute("CREATE TABLE reviews AS SELECT * FROM (VALUES (1, 'great fit', 5), "
                "(2, 'arrived late', 2), (3, 'great fit', 4), (4, NULL, 1)) t(id, review, stars)")
    yield con
    con.close()


def test_llm_matches_hf_generate_per_row(con, engine, reference):
    fns = hdb.register(con, engine=engine)
    rows = con.sql("SELECT id, review, llm('Review: ' || review, max_tokens => 5) AS out "
                   "FROM reviews ORDER BY id").fetchall()
    for _id, review, out in rows:
        if review is None:
            assert out is None  # NULL in, NULL out, like any SQL function
        else:
            assert out == reference(f"Review: {review}", max_tokens=5)
    # 'great fit' appears twice in the chunk: generated once.
    assert fns.stats()["generated"] == 2


def test_named_args_both_syntaxes_and_system(con, engine, reference):
    hdb.register(con, engine=engine)
    a, b = con.execute("SELECT llm('hi', max_tokens => 3, system => 'Be brief'), "
                   "llm('hi', max_tokens := 3, system := 'Be brief')").fetchall()[0]
    assert a == b == reference("hi", max_tokens=3, system="Be brief")


def test_llm_filter_returns_booleans_matching_constrained_choice(con, engine, reference):
    hdb.register(con, engine=engine)
    rows = con.sql("SELECT review, llm_filter('Is this positive? ' || review) FROM reviews "
                   "WHERE review IS NOT NULL").fetchall()
    for review, verdict in rows:
        assert isinstance(verdict, bool)
        assert verdict == reference.yes(f"Is this positive? {review}")
    kept = con.execute("SELECT count(*) FROM reviews WHERE llm_filter('Is this positive? ' || review)"
                   ).fetchall()[0][0]
    assert kept == sum(v for _, v in rows)


def test_llm_agg_renders_sorted_group_values(con, engine, reference):
    hdb.register(con, engine=engine)
    rows = con.sql("SELECT stars > 3 AS good, llm_agg('Summarize:\n{}', review, max_tokens => 4) "
                   "FROM reviews GROUP BY good ORDER BY good").fetchall()
    # NULLs sort last and render as the empty string.
    assert rows == [(False, reference("Summarize:\narrived late\n", max_tokens=4)),
                    (True, reference("Summarize:\ngreat fit\ngreat fit", max_tokens=4))]


def test_dedupe_in_chunk_and_memo_across_chunks_and_queries(engine):
    con = duckdb.connect()
    fns = hdb.register(con, engine=engine)
    query = "SELECT count(DISTINCT llm('n' || (i % 3)::VARCHAR, max_tokens => 2)) FROM range(5000) t(i)"
    assert con.execute(query).fetchall()[0][0] >= 1
    stats = fns.stats()
    assert stats["rows"] == 5000 and stats["chunks"] >= 3  # DuckDB hands 2,048 rows at a time
    assert stats["generated"] == 3
    con.sql(query).fetchall()
    assert fns.stats()["generated"] == 3  # the memo answers the second run


def test_threads_with_attached_cursors_share_one_engine(engine, reference):
    con = duckdb.connect()
    fns = hdb.register(con, engine=engine)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            cur = fns.attach(con.cursor())
            results[k] = cur.sql(f"SELECT i, llm('t{k} ' || i::VARCHAR, max_tokens => 2) "
                                 "FROM range(3) t(i) ORDER BY i").fetchall()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k, rows in results.items():
        assert rows == [(i, reference(f"t{k} {i}", max_tokens=2)) for i in range(3)]
    assert fns.stats()["generated"] == 12


def test_model_loads_lazily_and_bad_path_names_it(tmp_path):
    con = duckdb.connect()
    missing = tmp_path / "no-such-model"
    hdb.register(con, model=str(missing))  # nothing loads yet
    assert con.execute("SELECT 1 + 1").fetchall() == [(2,)]
    with pytest.raises(duckdb.Error, match="no-such-model"):
        con.sql("SELECT llm('hi')").fetchall()
    with pytest.raises(ModelLoadError):
        hdb.LLMFunctions(str(missing)).engine
    assert con.execute("SELECT 2 + 2").fetchall() == [(4,)]


def test_same_answers_as_connect_for_the_same_query(con, engine):
    import heliumsql

    hsql = heliumsql.connect(engine=engine)
    hsql.sql("CREATE TABLE reviews AS SELECT * FROM (VALUES (1, 'great fit', 5), "
             "(2, 'arrived late', 2), (3, 'great fit', 4), (4, NULL, 1)) t(id, review, stars)")
    hdb.register(con, engine=engine)
    pairs = [
        ("SELECT id, llm('Review: {review}', max_tokens => 5) FROM reviews WHERE review IS NOT NULL ORDER BY id",
         "SELECT id, llm('Review: ' || review, max_tokens => 5) FROM reviews WHERE review IS NOT NULL ORDER BY id"),
        # Sampling: the seed derives from the same inputs in both modes.
        ("SELECT id, llm('Review: {review}', max_tokens => 5, temperature => 0.9, seed => 7) "
         "FROM reviews WHERE review IS NOT NULL ORDER BY id",
         "SELECT id, llm('Review: ' || review, max_tokens => 5, temperature => 0.9, seed => 7) "
         "FROM reviews WHERE review IS NOT NULL ORDER BY id"),
        ("SELECT id FROM reviews WHERE llm_filter('Positive? {review}', system => 'Answer yes or no') ORDER BY id",
         # A template renders NULL as ''; a text prompt is NULL when any part is: COALESCE.
         "SELECT id FROM reviews WHERE llm_filter('Positive? ' || COALESCE(review, ''), "
         "system => 'Answer yes or no') ORDER BY id"),
        ("SELECT stars > 3 AS good, llm_agg('All:\n{review}', max_tokens => 4) FROM reviews GROUP BY good ORDER BY good",
         "SELECT stars > 3 AS good, llm_agg('All:\n{}', review, max_tokens => 4) FROM reviews GROUP BY good ORDER BY good"),
    ]
    for connect_sql, udf_sql in pairs:
        assert con.sql(udf_sql).fetchall() == hsql.sql(connect_sql).fetchall(), udf_sql


def test_typed_udfs_have_their_duckdb_types_and_connects_answers(engine):
    import heliumsql

    table = ("CREATE TABLE t AS SELECT i AS id, 'item ' || i || repeat(' x', i % 7) AS descr "
             "FROM range(12) r(i)")
    hsql = heliumsql.connect(engine=engine, result_cache=None)
    hsql.sql(table)
    con = duckdb.connect()
    con.execute(table)
    hdb.register(con, engine=engine)
    labels = "['bug', 'feature', 'question']"
    # Sampled (temperature 1), so rows differ and the derived seeds must match connect()'s.
    udf = con.sql(
        f"SELECT id, llm_classify('Ticket: ' || descr, {labels}, temperature => 1.0) AS c, "
        "typeof(c), llm_score('Rate ' || descr, 0, 100, temperature => 1.0) AS s, typeof(s) "
        "FROM t ORDER BY id").fetchall()
    assert udf == hsql.sql(
        f"SELECT id, llm_classify('Ticket: {{descr}}', {labels}, temperature => 1.0) AS c, "
        "typeof(c), llm_score('Rate {descr}', 0, 100, temperature => 1.0) AS s, typeof(s) "
        "FROM t ORDER BY id").fetchall()
    assert all(c in ("bug", "feature", "question") and 0 <= s <= 100 for _, c, _, s, _ in udf)
    assert {(tc, ts) for _, _, tc, _, ts in udf} == {("VARCHAR", "INTEGER")}
    assert len({s for _, _, _, s, _ in udf}) > 1
    with pytest.raises(duckdb.Error, match=r"low \(5\) must be less than high \(1\)"):
        con.sql("SELECT llm_score('x', 5, 1)").fetchall()
