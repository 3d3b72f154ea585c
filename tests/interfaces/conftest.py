"""Shared fixtures: one tiny model checkpoint and one engine for the whole interfaces suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from heliumsql.testing import tiny_model


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("interfaces") / "llama", arch="llama")


@pytest.fixture(scope="session")
def engine(model_path: Path):
    from heliumsql.engine import Engine

    return Engine(str(model_path), device="cpu")


@pytest.fixture(scope="session")
def reference(model_path: Path):
    """Hugging Face ``generate``, one request at a time: the answer every interface must match."""
    from heliumsql.engine import HFGenerateEngine
    from heliumsql.engine.sampling import SamplingParams
    from heliumsql.prompting import chat_token_ids

    hf = HFGenerateEngine(str(model_path), device="cpu")

    def answer(prompt: str, max_tokens: int = 64, system: str | None = None) -> str:
        ids = chat_token_ids(hf.tokenizer, prompt, system=system)
        return hf.generate([ids], SamplingParams(max_tokens=max_tokens))[0].text

    def yes(prompt: str, system: str | None = None) -> bool:
        ids = chat_token_ids(hf.tokenizer, prompt, system=system)
        params = SamplingParams(max_tokens=4, choices=("yes", "no", "Yes", "No"))
        return hf.generate([ids], params)[0].choice in (0, 2)

    answer.yes = yes  # type: ignore[attr-defined]
    return answer
