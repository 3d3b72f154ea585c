"""Clients that leave: their requests are cancelled and every KV block they held is freed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import openai
from serving import Served

from heliumsql.engine import Engine

# Tokens per request: the first request runs far longer than the others stay connected, even on
# a loaded machine (the tiny model's context is 1024).
LONG = 900


def blocks_owned(engine: Engine) -> int:
    """Blocks held by a request or a pin: neither free nor evictable cache."""
    return engine.pool.num_blocks - engine.pool.num_free - engine.radix.num_evictable


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_clients_that_leave_free_their_requests(served: Served) -> None:
    engine, headers = served.engine, {"Authorization": f"Bearer {served.api_key}"}
    before, prompts_before = engine.stats()["generated_tokens"], engine.stats()["prompt_tokens"]
    # A stays connected and gets its whole answer; B and C leave before theirs are done.
    a_done = threading.Event()

    def ask_a() -> None:
        openai.OpenAI(base_url=served.base_url, api_key=served.api_key).completions.create(
            model=served.model, prompt="A stays", max_tokens=LONG, temperature=0,
            extra_body={"ignore_eos": True})
        a_done.set()

    def admitted(after: int) -> Callable[[], bool]:
        # Prompt tokens count every request the engine took in, even one that already finished:
        # on a fast machine A may be done before B arrives, so the queue depth is no signal.
        return lambda: engine.stats()["prompt_tokens"] > after

    a = threading.Thread(target=ask_a)
    a.start()
    assert wait_until(admitted(prompts_before))
    prompts_a = engine.stats()["prompt_tokens"]
    body = {"model": served.model, "max_tokens": LONG, "ignore_eos": True, "stream": True,
            "messages": [{"role": "user", "content": "B leaves mid-stream"}]}
    with httpx.Client(base_url=served.base_url, headers=headers) as http:
        with http.stream("POST", "/chat/completions", json=body) as response:
            assert response.status_code == 200
            assert wait_until(admitted(prompts_a))
        # C gives up waiting for a whole (non-streamed) answer.
        try:
            http.post("/completions", timeout=0.2, json={
                "model": served.model, "prompt": "C times out", "max_tokens": LONG,
                "ignore_eos": True})
        except httpx.TimeoutException:
            pass
    a.join(timeout=120)
    assert a_done.is_set()
    assert wait_until(lambda: engine.num_queued() == 0 and blocks_owned(engine) == 0)
    generated = engine.stats()["generated_tokens"] - before
    # A's tokens and only the start of B's and C's: the server cancelled them when they left.
    assert generated < 2 * LONG
