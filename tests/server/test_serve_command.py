"""The real ``heliumsql serve`` command, as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from serving import wait_healthy

from heliumsql.engine import Engine, SamplingParams
from heliumsql.prompting import chat_token_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heliumsql_command() -> list[str]:
    """The installed console script (the same entry point as ``-m heliumsql.repl.cli``)."""
    script = Path(sys.executable).with_name("heliumsql")
    if script.exists():
        return [str(script)]
    found = shutil.which("heliumsql")
    return [found] if found else [sys.executable, "-m", "heliumsql.repl.cli"]


@pytest.fixture(scope="module")
def serve(model_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*heliumsql_command(), "serve", "--model", str(model_path), "--port", str(port),
         "--api-key", "k3y", "--served-model-name", "helium-tiny", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "HELIUMSQL_API_KEY": ""})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        if proc.poll() is None:
            wait_healthy(base_url)
        yield base_url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/v1" in out  # it says where it listens


def test_serve_answers_as_the_local_engine(serve: str, reference: Engine) -> None:
    client = openai.OpenAI(base_url=serve, api_key="k3y", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["helium-tiny"]
    prompt = "Is this review positive? lovely"
    got = client.chat.completions.create(model="helium-tiny", temperature=0, max_tokens=10,
                                         messages=[{"role": "user", "content": prompt}])
    ids = chat_token_ids(reference.tokenizer, prompt)
    assert got.choices[0].message.content == reference.generate(
        [ids], SamplingParams(max_tokens=10))[0].text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=serve, api_key="wrong", max_retries=0).models.list()


def test_serve_binds_loopback_only(serve: str) -> None:
    port = int(serve.rsplit(":", 1)[1].split("/")[0])
    # Reachable on 127.0.0.1 (the fixture waited for it) but not on another local address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # no packet is sent: connecting a UDP socket only picks the outgoing address
            probe.connect(("203.0.113.1", 9))
            other = probe.getsockname()[0]
        except OSError:
            other = "127.0.0.1"
    if other.startswith("127."):
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{other}:{port}/health", timeout=2)


def test_importing_heliumsql_imports_no_server_library() -> None:
    code = ("import sys, heliumsql, heliumsql.repl.cli; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'openai') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
