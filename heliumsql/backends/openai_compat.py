"""The engine contract answered by an OpenAI-compatible server (vLLM, SGLang, llama.cpp,
Ollama, a hosted API) through the official ``openai`` client.

The runtime sends token ids; :class:`~heliumsql.backends.chat_codec.ChatCodec` (this backend's
tokenizer) turns them back into the exact (system, user) messages, and each becomes one chat
completion request. Requests go out in the order ``stream`` receives them (the runtime's
prefix-tree order, so the server's own prefix cache hits), at most ``max_concurrency`` at a
time over all streams, from an asyncio loop in one background thread; answers come back
through a thread-safe queue as they finish. The client retries rate limits (HTTP 429, honouring
``Retry-After``), 408/409/5xx answers, timeouts and dropped connections with exponential backoff
and jitter, ``max_retries`` times; a request that still fails stops the stream from sending
more, the answers of requests already in flight are delivered (the result cache keeps them) and
then an :class:`~heliumsql.errors.ExecutionError` names the endpoint, the status and the prompt
(with ``on_error => 'null'``, ``stream_tolerant``: the row gets NULL and the others go on).

A remote server may not be deterministic, even greedy (batching changes floating-point sums);
HeliumSQL never sends the same (prompt, parameters) twice in one query, and with a result cache
a rerun reuses the first answers.

>>> backend = OpenAICompatBackend("my-model", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
>>> backend.generate(["Say hi"], SamplingParams(max_tokens=8))[0].text             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from heliumsql.backends.budget import RequestBudget
from heliumsql.backends.chat_codec import ChatCodec
from heliumsql.backends.choices import parse_choice, response_format, schema_format
from heliumsql.engine.interface import Params, Prompt
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams, params_list
from heliumsql.errors import ExecutionError, ModelLoadError
from heliumsql.sampling import REQUEST_FAILED, UNPARSED_CHOICE

DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 4
# The server checks prompt lengths itself (a too-long prompt is its 400 error); the local
# byte count would only over-estimate the server's token count.
UNKNOWN_CONTEXT = 1 << 30
_EXCERPT = 80
# Statuses the client retries (besides 5xx), and what to check after a status it does not.
_RETRIED = (408, 409, 429)
_HINTS = {401: " (check api_key= or $OPENAI_API_KEY)",
          404: " (check the model name after 'openai:' and base_url, which usually ends in /v1)"}
_STATS = ("requests", "failed_requests", "prompt_tokens", "cached_tokens",
          "computed_prefill_tokens", "generated_tokens")
# What a refused constraint is remembered as: vLLM's guided_choice, llm_filter's choice schema
# (any other key is a typed call's schema text).
_GUIDED, _CHOICE = "guided_choice", "choice"


class RemoteStream:
    """The completions of one ``stream`` call, in the order the server finishes them."""

    def __init__(self, num_requests: int) -> None:
        self._queue: queue.Queue[Completion | BaseException] = queue.Queue()
        self._remaining = num_requests
        self.failure: ExecutionError | None = None  # the first request that failed for good
        self.future: Future[None] | None = None  # the loop's task issuing this call's requests

    def __iter__(self) -> "RemoteStream":
        return self

    def __next__(self) -> Completion:
        if self._remaining <= 0:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._remaining = 0
            raise item
        self._remaining -= 1
        return item

    def num_ready(self) -> int:
        return self._queue.qsize()

    def put(self, item: Completion | BaseException) -> None:
        self._queue.put(item)

    def close(self) -> None:
        if self.future is not None:
            self.future.cancel()  # thread-safe: the loop cancels the task and its requests
        self._remaining = 0


class OpenAICompatBackend:
    """An :class:`~heliumsql.engine.interface.EngineBackend` over an OpenAI-compatible server.

    ``base_url`` and ``api_key`` default to ``$OPENAI_BASE_URL`` / ``$OPENAI_API_KEY`` as the
    ``openai`` client reads them (a server that needs no key gets ``"EMPTY"``). ``timeout`` is
    per attempt, in seconds. ``max_requests`` is the per-statement budget (see
    :mod:`heliumsql.backends.budget`). ``structured_output=False`` never sends a JSON schema
    (``response_format``) for a constrained choice or a typed answer (for servers that reject
    it). By default the backend stops sending a schema by itself once the server answers it
    with HTTP 400 and answers the same request without it, and reads the free answers instead;
    only that schema stops (``refused_schemas``): OpenAI's hosted API refuses a bare ``integer``
    or ``enum`` root yet takes an object, so a refused ``llm_score`` leaves ``llm_filter``'s
    choice and ``returns => 'STRUCT(...)'`` constrained.
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 max_concurrency: int = DEFAULT_MAX_CONCURRENCY, max_requests: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_context: int = UNKNOWN_CONTEXT, structured_output: bool = True) -> None:
        try:
            import openai
        except ImportError:
            raise ModelLoadError(
                f"model 'openai:{model}' needs the openai client: pip install 'heliumsql[remote]'"
            ) from None
        if max_concurrency < 1:
            raise ModelLoadError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._openai = openai
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout, max_retries=max_retries)
        self.model, self.timeout, self.max_retries = model, timeout, max_retries
        self.base_url = str(self._client.base_url).rstrip("/")
        self.tokenizer = ChatCodec()
        self.max_context = max_context
        # Result-cache keys and derived seeds: answers of different endpoints never mix.
        self.fingerprint = f"openai:{self.base_url}#{model}"
        self.structured_output = structured_output
        self.guided_choices = structured_output  # vLLM's guided_choice, tried first
        # Schemas (their text; _CHOICE for llm_filter's) the server refused as response_format.
        self.refused_schemas: set[str] = set()
        self.budget = RequestBudget(max_requests)
        self._max_concurrency = max_concurrency
        self._counts = dict.fromkeys(_STATS, 0)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- the engine contract ----------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: Params) -> list[Completion]:
        stream = self.stream(prompts, params)
        try:
            return sorted(stream, key=lambda c: c.index)
        finally:
            self.cancel(stream)

    def stream(self, prompts: Sequence[Prompt], params: Params) -> RemoteStream:
        return self.stream_tolerant(prompts, params, [False] * len(prompts))

    def stream_tolerant(self, prompts: Sequence[Prompt], params: Params,
                        tolerate: Sequence[bool]) -> RemoteStream:
        """``stream``, where a request flagged in ``tolerate`` that still fails after the
        retries is answered by a :data:`~heliumsql.sampling.REQUEST_FAILED` completion (its
        text the error) and does not stop the others (``on_error => 'null'``)."""
        per_request = params_list(params, len(prompts))
        messages = [self._messages(p) for p in prompts]
        self.budget.take(len(prompts), self.base_url)  # before anything is sent
        stream = RemoteStream(len(prompts))
        if prompts:
            loop = self._running_loop()
            stream.future = asyncio.run_coroutine_threadsafe(
                self._issue(stream, messages, per_request, list(tolerate)), loop)
        return stream

    def cancel(self, stream: Any) -> None:
        if isinstance(stream, RemoteStream):
            stream.close()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def start_statement(self, max_requests: int | None) -> None:
        """A statement begins: its requests count against ``max_requests`` (None: no limit)."""
        self.budget.start(max_requests)

    # -- requests ---------------------------------------------------------------------------
    def _messages(self, prompt: Prompt) -> list[dict[str, str]]:
        if isinstance(prompt, str):
            return [{"role": "user", "content": prompt}]
        return self.tokenizer.messages(prompt)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=_serve, args=(loop, self._client), name="heliumsql-openai",
                             daemon=True).start()
            # The thread holds the loop, not the backend: a dropped backend stops its thread.
            weakref.finalize(self, loop.call_soon_threadsafe, loop.stop)
            self._loop, self._slots = loop, asyncio.Semaphore(self._max_concurrency)
        return self._loop

    async def _issue(self, stream: RemoteStream, messages: list[list[dict[str, str]]],
                     params: list[SamplingParams], tolerate: list[bool]) -> None:
        """Send the requests in order, each when a slot is free; after a failure send no more,
        deliver what is in flight, then the failure."""
        assert self._slots is not None
        tasks: list[asyncio.Future[None]] = []
        try:
            for index, (msgs, p) in enumerate(zip(messages, params)):
                await self._slots.acquire()
                if stream.failure is not None:
                    self._slots.release()
                    break
                task = asyncio.ensure_future(self._one(stream, index, msgs, p, tolerate[index]))
                # Released however the task ends, even cancelled before it ever ran (a task
                # cancelled that early never runs its own finally: its slot would be lost).
                task.add_done_callback(lambda _: self._release())
                tasks.append(task)
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - a reader must never wait for ever
            stream.put(exc)
            return
        if stream.failure is not None:
            stream.put(stream.failure)

    async def _one(self, stream: RemoteStream, index: int, messages: list[dict[str, str]],
                   params: SamplingParams, tolerated: bool) -> None:
        assert self._slots is not None
        try:
            stream.put(await self._complete(index, messages, params))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes the stream's error
            self._count(failed_requests=1)
            failure = self._failure(exc, messages)
            if tolerated:  # the row's answer is NULL; the others go on
                stream.put(Completion(index, str(failure), (), 0, 0, REQUEST_FAILED, None))
            elif stream.failure is None:
                stream.failure = failure

    def _release(self) -> None:
        assert self._slots is not None
        self._slots.release()

    async def _complete(self, index: int, messages: list[dict[str, str]],
                        params: SamplingParams) -> Completion:
        request: dict[str, Any] = {"model": self.model, "messages": messages,
                                   "max_tokens": params.max_tokens,
                                   "temperature": params.temperature}
        if params.top_p < 1:
            request["top_p"] = params.top_p
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)
        if params.top_k:
            request["extra_body"] = {"top_k": params.top_k}  # vLLM and SGLang read it
        # What the response_format constrains: the choice schema, or the typed call's schema.
        schema_key = _CHOICE if params.choices is not None else params.json_schema
        if params.choices is not None and self.guided_choices:
            # vLLM's extension, which heliumsql serve also takes: decoded as the local engine
            # decodes a choice (the answer is the choice itself, so greedy verdicts agree).
            request.setdefault("extra_body", {})["guided_choice"] = list(params.choices)
        elif schema_key is not None and self._sends_schema(schema_key):
            request["response_format"] = self._response_format(params)
        self._count(requests=1)
        refused: list[str] = []  # remembered only once a request without them is answered
        while True:
            try:
                response = await self._client.chat.completions.create(**request)
                completion = self._completion(index, response, params)
            except self._openai.BadRequestError:
                # The server refuses the constraint: the next one down, then the free answer.
                if "guided_choice" in request.get("extra_body", {}):
                    refused.append(_GUIDED)
                    del request["extra_body"]["guided_choice"]
                    if self._sends_schema(_CHOICE):
                        request["response_format"] = self._response_format(params)
                elif "response_format" in request:
                    refused.append(schema_key)
                    del request["response_format"]
                else:
                    raise  # not about a constraint (or nothing left to drop): the caller's error
                self._count(requests=1)
                continue
            # A 400 that a request without the constraint also gets (a prompt too long, a bad
            # parameter) is not a refusal of the constraint: nothing is remembered then.
            for what in refused:
                if what == _GUIDED:
                    self.guided_choices = False
                else:
                    self.refused_schemas.add(what)
            return completion

    @staticmethod
    def _response_format(params: SamplingParams) -> dict[str, Any]:
        if params.choices is not None:
            return response_format(params.choices)
        assert params.json_schema is not None
        return schema_format(json.loads(params.json_schema))

    def _sends_schema(self, key: str) -> bool:
        return self.structured_output and key not in self.refused_schemas

    def _completion(self, index: int, response: Any, params: SamplingParams) -> Completion:
        if not getattr(response, "choices", None):
            raise ValueError("the response holds no choices")
        answer = response.choices[0]
        text = (answer.message.content or "").strip()
        usage = response.usage
        num_prompt = usage.prompt_tokens if usage is not None else 0
        details = getattr(usage, "prompt_tokens_details", None)
        num_cached = (details.cached_tokens or 0) if details is not None else 0
        num_generated = usage.completion_tokens if usage is not None else 0
        self._count(prompt_tokens=num_prompt, cached_tokens=num_cached,
                    computed_prefill_tokens=num_prompt - num_cached,
                    generated_tokens=num_generated)
        choice, finish = None, "length" if answer.finish_reason == "length" else "stop"
        if params.choices is not None:
            choice = parse_choice(text, params.choices)
            finish = "choice" if choice is not None else UNPARSED_CHOICE
            text = params.choices[choice] if choice is not None else text
        # Generated ids in this backend's vocabulary (the server does not return its own).
        return Completion(index, text, tuple(self.tokenizer.encode(text)), num_prompt,
                          num_cached, finish, choice)

    def _failure(self, exc: Exception, messages: list[dict[str, str]]) -> ExecutionError:
        prompt = messages[-1]["content"] if messages else ""
        shown = repr(prompt if len(prompt) <= _EXCERPT else prompt[:_EXCERPT] + "…")
        retried = f" after {self.max_retries} retries" if self.max_retries else ""
        if isinstance(exc, self._openai.APIStatusError):
            status = exc.status_code
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("message") or exc.message
            what = f"answered HTTP {status} ({detail})"
            if status in _RETRIED or status >= 500:
                what += retried
            what += _HINTS.get(status, "")
        elif isinstance(exc, self._openai.APITimeoutError):
            what = f"did not answer within the {self.timeout:g} s timeout{retried}"
        elif isinstance(exc, self._openai.APIConnectionError):
            what = f"could not be reached ({exc.__cause__ or exc}){retried}"
        else:
            what = f"sent a malformed answer ({type(exc).__name__}: {exc})"
        return ExecutionError(f"{self.base_url} {what} for the request whose prompt is {shown}; "
                              "the answers received before it are kept, so with a result cache "
                              "a rerun sends only the missing requests")

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta


def _serve(loop: asyncio.AbstractEventLoop, client: Any) -> None:
    """The background thread: run ``loop`` until stopped, then close the client's connections
    on it (closed later, from the garbage collector, they would need the closed loop) and
    release its worker threads."""
    loop.run_forever()
    loop.run_until_complete(client.close())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
