"""Fixtures for the optimizer tests: a DuckDB schema with a little data (statistics need rows,
EXPLAIN needs no model), and one tiny model for the tests that run queries.

``GOLDEN_DATA`` is what the golden files are planned against; ``REVIEWS`` (the same five rows
as tests/sql) is what queries run against.
"""

from __future__ import annotations

import pytest

import heliumsql
from heliumsql.engine import Engine, HFGenerateEngine, SamplingParams
from heliumsql.testing import tiny_model

# Reviews are all different and long; categories repeat and are short (field ordering cares).
GOLDEN_DATA = """
CREATE TABLE reviews AS SELECT range::INTEGER AS id,
  'review number ' || range || ' says the product is ' ||
    CASE WHEN range % 3 = 0 THEN 'fine' ELSE 'broken' END AS review,
  (1 + range % 5)::INTEGER AS stars,
  CASE WHEN range % 2 = 0 THEN 'tools' ELSE 'toys' END AS category
FROM range(20);
CREATE TABLE categories AS SELECT * FROM (VALUES ('tools', 'Tools & hardware'), ('toys', 'Toys'))
  t(category, title);
"""

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
