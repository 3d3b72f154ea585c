"""Shared fixtures for the SQL tests: one tiny model, one engine, and an independent reference.

The reference answers come from Hugging Face ``generate`` (via HFGenerateEngine) on token ids
built here straight from the tokenizer's chat template, not through heliumsql's own prompting.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import heliumsql
from heliumsql.engine import Engine, HFGenerateEngine, SamplingParams
from heliumsql.testing import tiny_model

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


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tiny_model(tmp_path_factory.mktemp("models") / "llama", arch="llama", seed=0)


@pytest.fixture(scope="session")
def engine(model_path):  # noqa: ANN001, ANN201
    return Engine(model_path, device="cpu")


@pytest.fixture(scope="session")
def reference(model_path) -> Callable[..., str]:  # noqa: ANN001
    """``reference(prompt, max_tokens, system=None)``: HF generate's greedy answer."""
    hf = HFGenerateEngine(model_path, device="cpu")
    cache: dict[tuple, str] = {}

    def answer(prompt: str, max_tokens: int, system: str | None = None) -> str:
        key = (prompt, max_tokens, system)
        if key not in cache:
            messages = ([{"role": "system", "content": system}] if system else []) + \
                [{"role": "user", "content": prompt}]
            ids = hf.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                   tokenize=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
            cache[key] = hf.generate([ids], SamplingParams(max_tokens=max_tokens))[0].text
        return cache[key]

    return answer


@pytest.fixture
def con(engine):  # noqa: ANN001, ANN201
    connection = heliumsql.connect(engine=engine)
    connection.sql(REVIEWS)
    yield connection
    connection.close()
