"""``heliumsql --demo``: the shipped CSVs load, and the demo runs end to end with the built-in model."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import heliumsql
from heliumsql.demo import QUERIES, TABLES, WORKFLOW, load_demo_data, run_demo
from heliumsql.models import texts


@pytest.fixture(scope="module")
def con():
    with heliumsql.connect(result_cache=":memory:") as connection:
        load_demo_data(connection)
        yield connection


def test_demo_tables_load(con):
    counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES + ("roles",)}
    assert counts == {"reviews": 27, "documents": 15, "messages": 8, "prices": 36,
                      "portfolio": 4, "roles": 3}


def test_demo_price_moves_have_the_designed_analyst_labels(con):
    # The workflow's first stage renders moves with SQL; they must be the form the model learned.
    sql = WORKFLOW.sql.split("analysts AS")[0].rstrip().rstrip(",") + \
        " SELECT ticker, moves FROM series ORDER BY ticker"
    for ticker, moves in con.sql(sql).fetchall():
        values = tuple(float(m.rstrip("%")) for m in moves.split(", "))
        assert texts.format_moves(values) == moves
        assert len(values) == 8 and all(abs(v) >= 0.3 for v in values), ticker


@pytest.mark.slow
def test_each_demo_query_gives_sensible_answers(con):
    sentiment = con.sql(QUERIES[0].sql).fetchall()
    agree = sum((stars >= 4) == (label == "positive") for _, _, stars, label, _ in sentiment)
    assert agree >= 0.9 * len(sentiment)
    # the 1-5 score sides with the stars: high for the positive reviews, low for the negative
    assert sum((stars >= 4) == (score >= 4) and (stars <= 2) == (score <= 2)
               for _, _, stars, _, score in sentiment) >= 0.8 * len(sentiment)
    topics = {row[0]: row[1] for row in con.sql(QUERIES[2].sql).fetchall()}
    assert set(topics) <= {"sports", "politics", "technology", "business", "science"}
    assert len(topics) >= 4  # 15 documents of five topics: not one label for everything
    typed = con.sql(QUERIES[3].sql)
    assert [str(t) for t in typed.types][1:] == ["VARCHAR", "VARCHAR", "INTEGER"]
    fields = typed.fetchall()
    messages = dict(con.sql("SELECT id, message FROM messages").fetchall())
    # The person's full name and the city are copied from the message into the JSON strings.
    copied = sum(len(name.split()) > 1 and name in messages[i] and city in messages[i]
                 for i, name, city, _ in fields)
    assert copied >= 0.75 * len(fields), fields
    trades = dict((row[0], row[-1]) for row in con.sql(WORKFLOW.sql).fetchall())
    expected = {"ACME": "buy", "DUCK": "buy", "HELI": "sell", "QUAK": "none"}  # by the data's design
    assert sum(trades[t] == want for t, want in expected.items()) >= 3, trades


@pytest.mark.slow
def test_run_demo_prints_results_and_figures():
    out = io.StringIO()
    run_demo(Console(file=out, width=160, record=False))
    text = out.getvalue()
    for step in QUERIES + (WORKFLOW,):
        assert step.title in text
    assert "LlmAgg" in text and "prompt_tokens=" in text  # EXPLAIN ANALYZE figures
    assert "Demo finished" in text
