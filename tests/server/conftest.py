"""Fixtures for the server tests: a tiny model, the engine it serves, and a real HTTP server on
a free loopback port (uvicorn in a background thread), stopped after the tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("openai")

import uvicorn  # noqa: E402

from heliumsql.engine import Engine  # noqa: E402
from heliumsql.server.app import create_app  # noqa: E402
from heliumsql.testing import tiny_model  # noqa: E402
from serving import API_KEY, MODEL_NAME, Served, wait_healthy  # noqa: E402


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models") / "llama", arch="llama", seed=0)


@pytest.fixture(scope="session")
def reference(model_path: Path) -> Engine:
    """A separate engine on the same model: what the local path answers."""
    return Engine(model_path, device="cpu")


@pytest.fixture(scope="module")
def served(model_path: Path) -> Iterator[Served]:
    engine = Engine(model_path, device="cpu")
    app = create_app(engine, MODEL_NAME, api_key=API_KEY)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes the socket over
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}/v1"
    wait_healthy(base_url)
    yield Served(base_url, engine)
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
