"""Fixtures for the embedding tests: a tiny random sentence-transformers checkpoint."""

from __future__ import annotations

import pytest

from heliumsql.testing import tiny_embedding_model


@pytest.fixture(scope="session")
def embedding_path(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tiny_embedding_model(tmp_path_factory.mktemp("embedding") / "st", seed=0)
