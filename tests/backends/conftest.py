"""The loopback OpenAI-compatible server the remote backend's tests talk to (one per session,
serving the suite's tiny engine; each test starts with no faults and zero counts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faulty_openai_server import FaultyOpenAIServer

from heliumsql.engine import Engine


@pytest.fixture(scope="session")
def _server(engine: Engine) -> Iterator[FaultyOpenAIServer]:
    server = FaultyOpenAIServer(engine, model_name="tiny")
    yield server
    server.stop()


@pytest.fixture
def server(_server: FaultyOpenAIServer) -> FaultyOpenAIServer:
    _server.reset()
    return _server
