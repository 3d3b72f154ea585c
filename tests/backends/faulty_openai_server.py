"""A small OpenAI-compatible chat server on loopback for the remote backend's tests.

It answers ``POST /v1/chat/completions`` with a real local engine (greedy by default), building
the prompt's token ids the way the SQL layer does for that engine, so its answers equal the
local engine's. vLLM's ``guided_choice`` and a ``response_format`` JSON schema whose one
property is an enum are decoded as a constrained choice (what a server with structured output
does). It can be told to misbehave:
queued ``Fault``s apply to the next requests in arrival order (a status with an optional
``Retry-After``, a slow answer, a malformed body), prompts containing a ``failing`` text always
get HTTP 500, ``structured=False`` rejects ``guided_choice`` and ``response_format`` with HTTP 400, and
``free_answer`` replaces every answer's text. It counts what it receives.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from heliumsql.engine import Engine, SamplingParams
from heliumsql.prompting import chat_token_ids


@dataclass(frozen=True)
class Fault:
    """``kind``: "status" (answer ``status``, with ``Retry-After: retry_after`` when given),
    "slow" (answer after ``delay`` seconds) or "malformed" (HTTP 200 with a broken JSON body)."""

    kind: str
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0


class FaultyOpenAIServer:
    """Serves ``engine`` as model ``model_name`` at :attr:`base_url` until :meth:`stop`."""

    def __init__(self, engine: Engine, model_name: str = "tiny") -> None:
        self.engine, self.model_name = engine, model_name
        self._engine_lock = threading.Lock()  # the engine answers one request at a time
        self._lock = threading.Lock()
        self.reset()
        server = self
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/v1"

    def reset(self) -> None:
        """Forget every fault and count; first wait (up to 10 s) for requests an earlier test
        left running (a client that timed out or cancelled), so they do not count here."""
        deadline = time.monotonic() + 10
        while getattr(self, "in_flight", 0) > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self.faults: deque[Fault] = deque()
            self.failing: set[str] = set()
            self.structured = True
            self.guided = True  # False: guided_choice refused, response_format still taken
            self.free_answer: str | None = None
            self.num_requests = 0
            self.arrivals: list[str] = []  # each request's user message, in arrival order
            self.bodies: list[dict[str, Any]] = []  # each request's JSON body, in arrival order
            self.answered: list[str] = []  # user messages answered with HTTP 200 and a body
            self.in_flight = 0
            self.max_in_flight = 0

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    # -- one request ------------------------------------------------------------------------
    def handle(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        messages = body["messages"]
        user = next(m["content"] for m in messages if m["role"] == "user")
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        with self._lock:
            self.num_requests += 1
            self.arrivals.append(user)
            self.bodies.append(body)
            fault = self.faults.popleft() if self.faults else None
            failing = any(text in user for text in self.failing)
        if failing or (fault is not None and fault.kind == "status"):
            status = 500 if failing else fault.status
            headers = {"Retry-After": str(fault.retry_after)} \
                if fault is not None and fault.retry_after is not None else {}
            return status, headers, _error(f"injected HTTP {status}", "server_error")
        if fault is not None and fault.kind == "malformed":
            return 200, {}, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess'
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        guided = body.get("guided_choice")  # vLLM's extension: the answer is the choice itself
        if guided is not None and not (self.structured and self.guided):
            return 400, {}, _error("guided_choice is not supported", "invalid_request_error")
        choices = tuple(guided) if guided is not None else _enum(body.get("response_format"))
        if body.get("response_format") is not None and (choices is None or not self.structured):
            return 400, {}, _error("response_format is not supported", "invalid_request_error")
        params = SamplingParams(max_tokens=body.get("max_tokens") or 16,
                                temperature=body.get("temperature") or 0.0,
                                top_p=body.get("top_p") or 1.0, seed=body.get("seed"),
                                stop=tuple(body.get("stop") or ()), choices=choices)
        ids = chat_token_ids(self.engine.tokenizer, user, system)
        with self._engine_lock:
            completion = self.engine.generate([ids], params)[0]
        text = completion.text if choices is None else choices[completion.choice] \
            if guided is not None else json.dumps({"answer": choices[completion.choice]})
        if self.free_answer is not None:
            text = self.free_answer
        with self._lock:
            self.answered.append(user)
        return 200, {}, json.dumps({
            "id": f"chatcmpl-{self.num_requests}", "object": "chat.completion",
            "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if completion.finish_reason == "length"
                         else "stop"}],
            "usage": {"prompt_tokens": completion.num_prompt_tokens,
                      "completion_tokens": len(completion.token_ids),
                      "total_tokens": completion.num_prompt_tokens + len(completion.token_ids),
                      "prompt_tokens_details": {"cached_tokens": completion.num_cached_tokens}},
        }).encode()

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _enum(response_format: Any) -> tuple[str, ...] | None:
    """The enum of a JSON schema with one enum property (what a choice request sends)."""
    try:
        (prop,) = response_format["json_schema"]["schema"]["properties"].values()
        return tuple(prop["enum"])
    except (TypeError, KeyError, ValueError):
        return None


def _error(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()


def _handler(server: FaultyOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/v1/chat/completions":
                self._send(404, {}, _error(f"no route {self.path}", "not_found"))
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.enter()
            try:
                status, headers, payload = server.handle(body)
            finally:
                server.leave()
            self._send(status, headers, payload)

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
