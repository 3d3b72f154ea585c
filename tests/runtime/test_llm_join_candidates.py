"""``strategy => 'candidates', k => N``: only the N right rows most similar to each left row
(embedding cosine of the two sides' placeholder texts) are asked about; the rest do not match.
With N at least the right side's size it is the exact strategy."""

from __future__ import annotations

import re

import pytest
from runtime_helpers import RecordingEngine
from test_llm_join import ABOUT, TABLES

from heliumsql.errors import BindError, PlanError
from heliumsql.testing import tiny_embedding_model


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A tiny random sentence-transformers checkpoint (a connection from an engine has no
    default embedding model)."""
    return tiny_embedding_model(tmp_path_factory.mktemp("embedding") / "st", seed=0)


def candidates(k: int) -> str:
    return ABOUT.replace("?')", f"?', strategy => 'candidates', k => {k})")


QUERIES = {
    "inner": "SELECT r.id, p.pid FROM reviews r JOIN products p ON {call}",
    "left_conjunct": "SELECT r.id, p.pid, p.name FROM reviews r LEFT JOIN products p "
                     "ON r.category = p.category AND {call}",
    "where": "SELECT r.id, p.name FROM reviews r JOIN products p ON {call} WHERE p.pid > 10",
}


def _sent(engine: RecordingEngine) -> list[str]:
    return [engine.tokenizer.decode(list(p)) for call in engine.calls for p in call]


def _pair(prompt: str) -> tuple[str, str]:
    return re.search(r'Does "(.*)" mention (.*)\?', prompt).groups()


@pytest.mark.parametrize("name", list(QUERIES))
def test_k_at_least_the_right_side_gives_the_exact_rows(shared_engine, connect, embedder, name):
    exact = connect(shared_engine, setup=TABLES).sql(QUERIES[name].format(call=ABOUT)).fetchall()
    for optimize in (True, False):  # an opt-in strategy runs with the optimizer off too
        con = connect(shared_engine, setup=TABLES, optimize=optimize, embedding_model=embedder)
        got = con.sql(QUERIES[name].format(call=candidates(5))).fetchall()
        assert sorted(got, key=repr) == sorted(exact, key=repr)


def test_small_k_asks_only_the_top_k_pairs_and_matches_only_among_them(make_engine, connect,
                                                                       embedder):
    engine = RecordingEngine(make_engine())
    con = connect(engine, setup=TABLES, embedding_model=embedder)
    res = con.sql(QUERIES["inner"].format(call=candidates(1)))
    rows = res.fetchall()
    sent = [_pair(p) for p in _sent(engine)]
    # One pair per distinct review text (NULL renders as ''), each asked once.
    assert len(sent) == len(set(sent)) == 4
    assert {left for left, _ in sent} == {"great drill, strong motor", "the doll broke", "meh", ""}
    # The pair asked for each non-empty review is its most similar non-empty product name, by
    # the cosine of the same embeddings as llm_embed's.
    sims = con.sql("SELECT r.review, p.name, array_cosine_similarity(llm_embed(r.review), "
                   "llm_embed(p.name)) AS s FROM (SELECT DISTINCT review FROM reviews WHERE "
                   "review IS NOT NULL) r, (SELECT DISTINCT name FROM products WHERE name IS "
                   "NOT NULL) p").fetchall()
    best = {review: max((s, n) for r, n, s in sims if r == review)[1] for review, _, _ in sims}
    assert {(left, right) for left, right in sent if left} == set(best.items())
    # Every match is one of the asked pairs.
    names = dict(con.duckdb.sql("SELECT pid, coalesce(name, '') FROM products").fetchall())
    reviews = dict(con.duckdb.sql("SELECT id, coalesce(review, '') FROM reviews").fetchall())
    assert all((reviews[i], names[pid]) in sent for i, pid in rows)
    (stats,) = res.analyze.operators.values()
    kept = sum((r, n) in sent for r in reviews.values() for n in names.values())
    assert (stats.rows_in, stats.kept_pairs, stats.engine_requests) == (30, kept, 4)
    assert kept < 30 and stats.pairs_line().startswith(
        f"considered=30 pruned_by_conjuncts=0 pruned_by_candidates={30 - kept} ")
    assert stats.on_demand_prompts == 0


def test_explain_analyze_reports_the_pairs_the_candidates_step_pruned(make_engine, connect,
                                                                      embedder):
    con = connect(make_engine(), setup=TABLES, embedding_model=embedder)
    text = con.sql("EXPLAIN ANALYZE " + QUERIES["left_conjunct"].format(call=candidates(1))
                   ).fetchall()[0][0]
    (line,) = [s.strip() for s in text.splitlines() if s.strip().startswith("pairs")]
    # 11 pairs share a category. Top 1 per distinct review text: the drill review (rows 1, 3)
    # keeps Drill over '' (no text ranks last: 2 products x 2 rows), the NULL review ranks its
    # two names all alike and keeps the smaller, '' (1 pair), the doll review has only Doll
    # (2 rows): 7 kept, 3 distinct prompts.
    assert line == ("pairs  considered=30 pruned_by_conjuncts=19 pruned_by_candidates=4 "
                    "pruned_as_duplicates=4 prompts_sent=3")
    assert "candidates: top 1 of the p side per distinct r text by embedding cosine" in text


@pytest.mark.parametrize(("call", "error", "message"), [
    (candidates(0), BindError, "argument k => 0 must be at least 1"),
    (ABOUT.replace("?')", "?', strategy => 'candidates')"), BindError, "needs k => N"),
    (ABOUT.replace("?')", "?', k => 3)"), BindError, "k => 3 only applies with strategy"),
    ("llm_filter('Is {r.review} good?', strategy => 'candidates', k => 2)", PlanError,
     "must read both sides"),
])
def test_bad_candidates_calls_name_what_to_fix(connect, shared_engine, call, error, message):
    con = connect(shared_engine, setup=TABLES)
    with pytest.raises(error, match=message):
        con.explain(QUERIES["inner"].format(call=call))


def test_ranking_needs_an_embedding_model(connect, shared_engine):
    con = connect(shared_engine, setup=TABLES)  # from an engine: no default embedding model
    with pytest.raises(PlanError, match="ranks pairs by embedding cosine.*embedding_model=PATH"):
        con.sql(QUERIES["inner"].format(call=candidates(1))).fetchall()


def test_candidates_only_in_a_join(connect, shared_engine):
    con = connect(shared_engine, setup=TABLES)
    with pytest.raises(PlanError, match="applies to a call in the ON clause"):
        con.explain("SELECT id FROM reviews WHERE llm_filter('{review}', strategy => "
                    "'candidates', k => 2)")
