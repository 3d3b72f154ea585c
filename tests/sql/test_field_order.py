"""Record-style field order is part of the call: rendered as written unless the user asks for
``reorder => true`` (or ``SET helium_reorder_fields = true``), and then chosen while planning,
the same with the optimizer on and off."""

from __future__ import annotations

import pytest

import heliumsql
from heliumsql.field_order import greedy_order

MT = 3
# 30 rows: the long description repeats (3 values), the name is unique: reordering pays off.
RECORDS = """
CREATE TABLE products AS SELECT range::INTEGER AS id, 'item ' || range AS name,
  'a long shared description of product family number ' || (range % 3) AS description,
  CASE WHEN range % 2 = 0 THEN 'tools' ELSE 'toys' END AS category
FROM range(30)
"""
RECORD_QUERY = (f"SELECT id, llm('Describe', name, description, category, max_tokens => {MT}) "
                "AS a FROM products ORDER BY id")


@pytest.fixture
def records(engine):  # noqa: ANN001, ANN201
    cons = [heliumsql.connect(engine=engine, optimize=on, result_cache=None) for on in (True, False)]
    for con in cons:
        con.sql(RECORDS)
    yield cons
    for con in cons:
        con.close()


def test_greedy_order_puts_long_repeated_fields_first():
    shop = "a long shop description every row shares"
    rows = [("q", f"unique review text number {i}", "tools" if i % 2 else "toys", shop)
            for i in range(10)]
    # the long constant first, then the repeated category, then the unique text
    assert greedy_order(rows) == [2, 1, 0]
    # a short constant saves less than a longer field with two values
    assert greedy_order([r[:3] + ("x",) for r in rows]) == [1, 2, 0]
    assert greedy_order([]) == []


def test_record_style_answers_are_identical_with_the_optimizer_on_and_off(records, reference):
    on, off = records
    got_on, got_off = on.sql(RECORD_QUERY).fetchall(), off.sql(RECORD_QUERY).fetchall()
    assert len(got_on) == 30 and got_on == got_off
    # ...and they are the model's answers to the prompts as written.
    data = on.sql("SELECT id, name, description, category FROM products ORDER BY id").fetchall()
    assert got_on[:5] == [(i, reference(f"Describe\nname: {n}\ndescription: {d}\ncategory: {c}", MT))
                          for i, n, d, c in data[:5]]


@pytest.mark.parametrize("how", ["argument", "setting"])
def test_reorder_is_the_users_choice_and_is_the_same_on_and_off(records, reference, how):
    sql = RECORD_QUERY if how == "setting" else RECORD_QUERY.replace("max_tokens", "reorder => true, max_tokens")
    on, off = records
    if how == "setting":
        for con in records:
            con.sql("SET helium_reorder_fields = true")
    plans = [con.explain(sql) for con in records]
    assert all("fields  description, category, name  (declared name, description, category)" in p
               for p in plans)
    got_on, got_off = on.sql(sql).fetchall(), off.sql(sql).fetchall()
    assert len(got_on) == 30 and got_on == got_off
    data = on.sql("SELECT id, name, description, category FROM products ORDER BY id").fetchall()
    assert got_on[:3] == [(i, reference(f"Describe\ndescription: {d}\ncategory: {c}\nname: {n}", MT))
                          for i, n, d, c in data[:3]]


def test_reorder_uses_the_rows_that_reach_the_call_and_every_use_of_it(records):
    on, _ = records
    plan = on.explain("SELECT id, llm('Describe', name, category, description, reorder => true) AS a "
                      "FROM products WHERE id < 12 AND llm_filter('Keep {name}?') ORDER BY a")
    assert "fields  description, category, name  (declared name, category, description)" in plan
    # the final statement renders the same (reordered) prompt as the input
    statement = plan.splitlines()[1]
    assert "ORDER BY a" in statement and "__helium_2(...)" in statement


def test_a_call_without_reorder_keeps_the_declared_order_under_the_setting_off(records):
    on, _ = records
    plan = on.explain(RECORD_QUERY)
    assert "declared" not in plan
    assert "'name: '" in plan.split("description: ")[0]  # name renders first, as written
