"""Fixtures for the optimizer tests: a DuckDB schema with a little data (statistics need rows,
EXPLAIN needs no model), and one tiny model for the tests that run queries (tables in
optimizer_data.py)."""

from __future__ import annotations

import pytest
from optimizer_data import GOLDEN_DATA

import heliumsql


@pytest.fixture(scope="module")
def golden_con():  # noqa: ANN201
    con = heliumsql.connect(model="/never/loaded")
    con.sql(GOLDEN_DATA)
    yield con
    con.close()


@pytest.fixture(scope="session")
def tokenizer(engine):  # noqa: ANN001, ANN201
    return engine.tokenizer
