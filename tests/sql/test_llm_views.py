"""Views with LLM calls (issue 17): the connection keeps the view's query and plans its calls
with every statement that reads it (before, CREATE VIEW was accepted and every read then failed
with ``__helium_1 does not exist``)."""

from __future__ import annotations

import pytest
from connection_checks import still_works

from heliumsql import BindError, PlanError

VIEW = "CREATE VIEW v AS SELECT id, llm('Say {review}', max_tokens => 2) AS a FROM reviews"
QUERY = "SELECT id, llm('Say {review}', max_tokens => 2) AS a FROM reviews ORDER BY id"


def test_reading_a_view_gives_the_rows_of_its_query(con):
    con.sql(VIEW)
    expected = con.sql(QUERY).fetchall()
    assert con.sql("SELECT * FROM v ORDER BY id").fetchall() == expected
    assert con.sql("SELECT x.id, y.a FROM v AS x JOIN v AS y USING (id) ORDER BY 1").fetchall() == expected
    assert [r[:2] for r in con.sql("DESCRIBE v").fetchall()] == [("id", "INTEGER"), ("a", "VARCHAR")]
    assert con.sql("SUMMARIZE v").fetchall()[0][0] == "id"
    assert "Llm #1" in con.explain("SELECT * FROM v")
    still_works(con)


def test_views_read_views_and_name_their_columns(con):
    con.sql(VIEW)
    con.sql("CREATE VIEW w(k, twice) AS SELECT id, a || a FROM v")  # no call of its own
    con.sql("CREATE VIEW u AS SELECT k, llm('Again {twice}', max_tokens => 2) AS b FROM w")
    expected = [(i, a + a) for i, a in con.sql(QUERY).fetchall()]
    assert con.sql("SELECT * FROM w ORDER BY k").fetchall() == expected
    assert len(con.sql("SELECT * FROM u").fetchall()) == 5
    still_works(con)


def test_names_stay_unique_and_drop_and_replace_work(con):
    con.sql(VIEW)
    with pytest.raises(PlanError, match="already a view with LLM calls"):
        con.sql("CREATE TABLE v AS SELECT 1")
    with pytest.raises(PlanError, match="a table or view named reviews already exists"):
        con.sql("CREATE VIEW reviews AS SELECT llm('x')")
    con.sql("CREATE VIEW IF NOT EXISTS v AS SELECT 1")  # it exists: nothing happens
    assert len(con.sql("SELECT * FROM v").fetchall()) == 5
    assert con.sql("WITH v AS (SELECT 7 AS z) SELECT * FROM v").fetchall() == [(7,)]  # a CTE shadows
    con.sql("CREATE OR REPLACE VIEW v AS SELECT 7 AS seven")  # now a plain DuckDB view
    assert con.sql("SELECT * FROM v").fetchall() == [(7,)]
    con.sql("DROP VIEW v")
    con.sql(VIEW)
    con.sql("DROP VIEW v")
    with pytest.raises(Exception, match="v does not exist"):
        con.sql("SELECT * FROM v")
    still_works(con)


def test_a_view_that_does_not_plan_is_refused_at_create(con):
    with pytest.raises(BindError, match=r"\{nope\}"):
        con.sql("CREATE VIEW bad AS SELECT llm('{nope}') FROM reviews")
    with pytest.raises(Exception, match="bad does not exist"):
        con.sql("SELECT * FROM bad")
    still_works(con)
