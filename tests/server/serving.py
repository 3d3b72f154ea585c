"""What the server tests share: a running server's address and a health wait. A module of its
own (not conftest) so test files import it by a name no other test folder uses."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from heliumsql.engine import Engine

API_KEY = "test-key"
MODEL_NAME = "tiny"


@dataclass(frozen=True)
class Served:
    """A running server: where to reach it and the engine behind it."""

    base_url: str
    engine: Engine
    model: str = MODEL_NAME
    api_key: str = API_KEY


def wait_healthy(base_url: str, timeout: float = 60.0) -> None:
    """Return once ``GET /health`` answers 200; fail the test after ``timeout`` seconds."""
    root = base_url.removesuffix("/v1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the server at {root} did not become healthy within {timeout} s")
