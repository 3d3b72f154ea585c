"""Other model shapes (no chat template, other architectures), sampling, and model => checks."""

from __future__ import annotations

import pytest

import heliumsql
from heliumsql.engine import HFGenerateEngine, SamplingParams
from heliumsql.errors import CancelledError, PlanError
from heliumsql.testing import tiny_model


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tiny_model(tmp_path_factory.mktemp("plain") / "gpt2", arch="gpt2", seed=1, chat=False)


def test_model_without_chat_template_gets_the_raw_text(plain_model):
    con = heliumsql.connect(model=plain_model)
    con.sql("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'alpha'), (2, 'beta')) v(id, word)")
    rows = con.sql("SELECT id, llm('Say {word}', max_tokens => 3) FROM t ORDER BY id").fetchall()
    hf = HFGenerateEngine(plain_model)
    for id_, answer in rows:
        word = "alpha" if id_ == 1 else "beta"
        ids = hf.tokenizer(f"Say {word}", add_special_tokens=True)["input_ids"]
        assert answer == hf.generate([ids], SamplingParams(max_tokens=3))[0].text


def test_model_argument_must_name_the_connection_model(plain_model):
    con = heliumsql.connect(model=str(plain_model))
    with pytest.raises(PlanError, match="one connection serves one model"):
        con.sql("SELECT llm('hi', model => 'some/other-model')")
    (row,) = con.sql(f"SELECT llm('hi', model => '{plain_model.name}', max_tokens => 2)").fetchall()
    assert isinstance(row[0], str)


def test_sampling_is_repeatable_and_seeded(con):
    q = ("SELECT id, llm('Story about {{category}}', temperature => 1.0, max_tokens => 4{seed}) AS s "
         "FROM reviews ORDER BY id")
    first = con.sql(q.format(seed="")).fetchall()
    assert con.sql(q.format(seed="")).fetchall() == first
    # Rows with the same prompt get the same sample: the seed derives from the prompt.
    by_category = dict(con.sql("SELECT id, category FROM reviews").fetchall())
    answers = {}
    for id_, s in first:
        assert answers.setdefault(by_category[id_], s) == s
    seeded = con.sql(q.format(seed=", seed => 7")).fetchall()
    assert con.sql(q.format(seed=", seed => 7")).fetchall() == seeded
    assert seeded != first


def test_llm_over_group_keys_runs_once_per_group(con, reference):
    res = con.sql("SELECT category, llm('Name {category}', max_tokens => 3) AS n FROM reviews "
                  "GROUP BY category ORDER BY category")
    assert res.fetchall() == [(c, reference(f"Name {c}", 3)) for c in ("tools", "toys")]
    (stats,) = res.analyze.operators.values()
    assert stats.rows_in == 2


def test_llm_map_over_a_cte(con, reference):
    rows = con.sql("WITH few AS (SELECT id, review FROM reviews WHERE id = 3) "
                   "SELECT id, output FROM llm_map(TABLE few, '{review}', max_tokens => 3)").fetchall()
    assert rows == [(3, reference("meh", 3))]


def test_cancel_during_on_demand_work(con):
    def interrupt(_progress) -> None:  # noqa: ANN001
        raise KeyboardInterrupt

    with pytest.raises(CancelledError):
        con.sql("SELECT r.id FROM reviews r JOIN categories c ON r.category = c.category "
                "AND llm_filter('{r.review} / {c.title}')", progress=interrupt)
    assert con.sql("SELECT llm('{review}', max_tokens => 2) FROM reviews WHERE id = 1").fetchall()
