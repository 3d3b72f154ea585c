"""LLM calls over an unaliased FROM subquery, which DuckDB accepts: same rows as with an alias."""

from __future__ import annotations

import pytest

MT = 4

INNER = "SELECT id, category, 'review: ' || review AS view FROM reviews WHERE stars < 3"


@pytest.mark.parametrize("query", [
    f"SELECT id, llm('{{view}}', max_tokens => {MT}) AS answer FROM ({INNER})ALIAS ORDER BY id",
    (f"SELECT category, llm_agg('{{view}}', max_tokens => {MT}) AS answer FROM ({INNER})ALIAS "
     "GROUP BY category ORDER BY category"),
], ids=["llm", "llm_agg"])
def test_unaliased_subquery_gives_the_aliased_rows(con, query):
    aliased = con.sql(query.replace("ALIAS", " AS o")).fetchall()
    assert con.sql(query.replace("ALIAS", "")).fetchall() == aliased
    assert len(aliased) > 1 and all(isinstance(answer, str) for _, answer in aliased)


def test_llm_over_unaliased_subquery_matches_hf_generate(con, reference):
    rows = con.sql(f"SELECT id, llm('{{view}}', max_tokens => {MT}) FROM ({INNER}) ORDER BY id").fetchall()
    reviews = dict(con.sql("SELECT id, review FROM reviews WHERE stars < 3").fetchall())
    assert [r[0] for r in rows] == sorted(reviews)
    for id_, answer in rows:
        # NULL || text is NULL, and a NULL renders as the empty string.
        expected = f"review: {reviews[id_]}" if reviews[id_] is not None else ""
        assert answer == reference(expected, MT)


def test_duckdb_names_of_unaliased_subqueries_still_resolve(con, reference):
    # DuckDB calls them unnamed_subquery, unnamed_subquery2, ... in FROM order.
    rows = con.sql(f"SELECT unnamed_subquery2.title, llm('{{unnamed_subquery.review}}', "
                   f"max_tokens => {MT}) FROM (SELECT category, review FROM reviews WHERE id = 3) "
                   "JOIN (SELECT category, title FROM categories) USING (category)").fetchall()
    assert rows == [("Tools & hardware", reference("meh", MT))]
