"""Fixtures for the workflow runtime tests: a tiny model, fresh engines, connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from runtime_helpers import ITEMS

import heliumsql
from heliumsql.engine import Engine
from heliumsql.testing import tiny_model


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tiny_model(tmp_path_factory.mktemp("models") / "llama", arch="llama", seed=0)


@pytest.fixture(scope="session")
def shared_engine(model_path) -> Engine:  # noqa: ANN001
    """One engine for tests that only compare answers."""
    return Engine(model_path, device="cpu")


@pytest.fixture
def make_engine(model_path) -> Callable[..., Engine]:  # noqa: ANN001
    """A fresh engine (empty KV cache, zeroed stats); keywords go to ``Engine``."""
    return lambda **options: Engine(model_path, device="cpu", **options)


@pytest.fixture
def connect() -> Iterator[Callable[..., heliumsql.connection.Connection]]:
    """``connect(engine, setup=ITEMS, **options)``: a connection with the ``setup`` SQL run (the
    items table by default), closed after the test; the result cache is off unless a test
    passes one."""
    opened = []

    def open_(engine: Any, *, setup: str = ITEMS, **options: Any) -> heliumsql.connection.Connection:
        options.setdefault("result_cache", None)
        con = heliumsql.connect(engine=engine, **options)
        con.sql(setup)
        opened.append(con)
        return con

    yield open_
    for con in opened:
        con.close()
