"""Suite-wide test settings and the shared tiny model.

``model_path`` / ``engine`` build one tiny random llama for the whole session; ``reference``
answers with Hugging Face ``generate`` (via HFGenerateEngine) on token ids built straight from the
tokenizer's chat template, not through heliumsql's own prompting, so it is an independent check.

Tests never touch the user's result cache: ``connect()`` defaults to
``~/.cache/heliumsql/results.duckdb``, which would make reruns of the suite answer from earlier
runs (and fill the user's cache). Tests that exercise the cache pass ``result_cache=`` explicitly.
Set before collection, so subprocesses the tests start (REPL, notebooks) inherit it too.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

import heliumsql
from heliumsql.engine import Engine, HFGenerateEngine, SamplingParams
from heliumsql.testing import tiny_model
from review_tables import REVIEWS


def pytest_configure(config) -> None:  # noqa: ANN001 - pytest hook
    try:
        from heliumsql.result_cache import ENV_VAR
    except ImportError:  # no duckdb (the GPU check's machine): no result cache to keep away from
        return
    os.environ[ENV_VAR] = "none"


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
