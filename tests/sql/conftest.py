"""Fixtures for the SQL tests: the reviews tables and a connection on the suite's tiny engine
(``model_path``, ``engine`` and ``reference`` are in tests/conftest.py)."""

from __future__ import annotations

import pytest

import heliumsql

REVIEWS = """
CREATE TABLE reviews AS SELECT * FROM (VALUES
  (1, 'great stuff, works well', 5, 'tools'),
  (2, 'awful, broke in a day', 1, 'toys'),
  (3, 'meh', 2, 'tools'),
  (4, 'awful, broke in a day', 2, 'toys'),
  (5, NULL, 1, 'tools')
) t(id, review, stars, category);
CREATE TABLE categories AS SELECT * FROM (VALUES ('tools', 'Tools & hardware'), ('toys', 'Toys'))
  t(category, title);
"""


@pytest.fixture
def con(engine):  # noqa: ANN001, ANN201
    connection = heliumsql.connect(engine=engine)
    connection.sql(REVIEWS)
    yield connection
    connection.close()
