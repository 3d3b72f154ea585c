"""Shared fixtures for the engine tests: tiny checkpoints per architecture and their HF reference."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from heliumsql.engine import HFGenerateEngine
from heliumsql.testing import ARCHITECTURES, tiny_model


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy machine a thread pool's barriers
    make every small op wait for a descheduled worker (100x slower tests). Module-scoped, so
    the setting is restored before tests elsewhere run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("engine_models")
    return {arch: tiny_model(root / arch, arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def references(model_paths: dict[str, object]) -> dict[str, HFGenerateEngine]:
    """One Hugging Face ``generate`` reference engine per architecture (loaded lazily)."""

    class Lazy(dict):
        def __missing__(self, arch: str) -> HFGenerateEngine:
            self[arch] = HFGenerateEngine(model_paths[arch])
            return self[arch]

    return Lazy()
