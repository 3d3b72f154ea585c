"""Fixtures for the optimizer tests: a DuckDB schema with a little data (statistics need rows,
EXPLAIN needs no model), and one tiny model for the tests that run queries (tables in
optimizer_data.py)."""

from __future__ import annotations

import pytest
from heliumsql.engine import Engine, HFGenerateEngine, SamplingParams
from optimizer_data import GOLDEN_DATA, REVIEWS

import heliumsql
from heliumsql.testing import tiny_model


@pytest.fixture(scope="module")
def golden_con():  # noqa: ANN201
    con = heliumsql.connect(model="/never/loaded")
    con.sql(GOLDEN_DATA)
    yield con
    con.close()


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tiny_model(tmp_path_factory.mktemp("models") / "llama", arch="llama", seed=0)


@pytest.fixture(scope="session")
def engine(model_path):  # noqa: ANN001, ANN201
    return Engine(model_path, device="cpu")


@pytest.fixture(scope="session")
def tokenizer(engine):  # noqa: ANN001, ANN201
    return engine.tokenizer


@pytest.fixture(scope="session")
def reference(model_path):  # noqa: ANN001, ANN201
    """``reference(prompt, max_tokens)``: Hugging Face generate's greedy answer, on token ids
    built here from the chat template (not through heliumsql)."""
    hf = HFGenerateEngine(model_path, device="cpu")
    cache: dict[tuple, str] = {}

    def answer(prompt: str, max_tokens: int) -> str:
        if (prompt, max_tokens) not in cache:
            ids = hf.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                   add_generation_prompt=True, tokenize=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
            cache[prompt, max_tokens] = hf.generate([ids], SamplingParams(max_tokens=max_tokens))[0].text
        return cache[prompt, max_tokens]

    return answer


@pytest.fixture
def con(engine):  # noqa: ANN001, ANN201
    connection = heliumsql.connect(engine=engine)
    connection.sql(REVIEWS)
    yield connection
    connection.close()
