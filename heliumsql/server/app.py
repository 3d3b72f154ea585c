"""The FastAPI app: OpenAI's ``/v1/models``, ``/v1/completions`` and ``/v1/chat/completions``
over one engine, plus ``/health`` and ``/stats``.

>>> import uvicorn                                                         # doctest: +SKIP
>>> uvicorn.run(create_app(Engine("path/to/checkpoint"), "my-model"), port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from heliumsql.engine.errors import EngineError, PromptTooLongError
from heliumsql.engine.interface import EngineBackend, PrefixCachingEngine
from heliumsql.engine.request import Completion
from heliumsql.server import responses as r
from heliumsql.server.errors import APIError
from heliumsql.server.prompts import chat_prompt_ids
from heliumsql.server.protocol import ChatCompletionRequest, CompletionRequest, SamplingRequest
from heliumsql.server.pump import EnginePump, Submission

# OpenAI's default for /v1/completions; chat answers may run to the end of the context.
_COMPLETION_MAX_TOKENS = 16


def create_app(engine: EngineBackend, served_model_name: str, api_key: str | None = None
               ) -> FastAPI:
    """An app serving ``engine`` as the model ``served_model_name``; with ``api_key`` every
    ``/v1`` route (and ``/stats``) wants ``Authorization: Bearer <api_key>``."""
    pump = EnginePump(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pump.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(pump.stop)

    app = FastAPI(title="HeliumSQL", lifespan=lifespan)
    app.state.engine, app.state.pump = engine, pump
    _add_error_handlers(app)
    auth = [Depends(_key_check(api_key))]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stats", dependencies=auth)
    async def stats() -> dict[str, int]:
        """The engine's cumulative counters (steps, prefill tokens computed, ...)."""
        def read() -> dict[str, int]:  # takes the engine lock: off the event loop
            out = dict(engine.stats())
            if isinstance(engine, PrefixCachingEngine):
                out["num_queued"] = engine.num_queued()
            return out

        return await anyio.to_thread.run_sync(read)

    @app.get("/v1/models", dependencies=auth)
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(served_model_name, engine)]}

    @app.get("/v1/models/{model:path}", dependencies=auth)
    async def model(model: str) -> dict[str, Any]:
        _check_model(model, served_model_name)
        return _model_card(served_model_name, engine)

    @app.post("/v1/completions", dependencies=auth)
    async def completions(body: CompletionRequest, request: Request) -> Any:
        _check_model(body.model, served_model_name)
        body.check()
        params = body.sampling_params(_COMPLETION_MAX_TOKENS)
        prompts = [p for p in body.prompts() for _ in range(body.n)]
        sub = await _submit(pump, lambda: prompts, params * (len(prompts) // body.n), "prompt")
        return await _answer(pump, sub, body, request, served_model_name, "cmpl",
                             "text_completion", r.completion_body, r.completion_chunks)

    @app.post("/v1/chat/completions", dependencies=auth)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        _check_model(body.model, served_model_name)
        body.check()
        params = body.sampling_params(engine.max_context)
        def prompts() -> list[Any]:  # the chat template runs in the worker thread
            return [chat_prompt_ids(engine.tokenizer, body.messages)] * body.n

        sub = await _submit(pump, prompts, params, "messages")
        return await _answer(pump, sub, body, request, served_model_name, "chatcmpl",
                             "chat.completion.chunk", r.chat_body, r.chat_chunks)

    return app


def _model_card(name: str, engine: EngineBackend) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "heliumsql",
            "max_model_len": engine.max_context}


def _check_model(model: str, served: str) -> None:
    if model != served:
        raise APIError(404, f"The model `{model}` does not exist; this server serves `{served}`",
                       param="model", code="model_not_found")


def _key_check(api_key: str | None) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:  # async: FastAPI runs a sync one in a thread
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), api_key):
            raise APIError(401, "Incorrect API key provided: pass the key the server was "
                                "started with (--api-key) as the client's api_key",
                           code="invalid_api_key")
    return check


async def _submit(pump: EnginePump, prompts: Callable[[], list[Any]], params: list[Any],
                  param: str) -> Submission:
    """Tokenize and queue the request in a worker thread (both may wait for an engine step);
    the engine's refusals become 400s naming what to change."""
    def run() -> Submission:
        return pump.submit(prompts(), params)

    try:
        return await anyio.to_thread.run_sync(run)
    except PromptTooLongError as exc:
        raise APIError(400, f"This model's maximum context length is {exc.max_context} tokens, "
                            f"but the prompt has {exc.num_prompt_tokens} tokens; shorten the "
                            "prompt", param=param,
                       code="context_length_exceeded") from exc
    except EngineError as exc:
        raise APIError(400, str(exc)) from exc


async def _answer(pump: EnginePump, sub: Submission, body: SamplingRequest, request: Request,
                  model: str, prefix: str, chunk_object: str, whole: Callable[..., dict],
                  chunks: Callable[..., list[dict]]) -> Any:
    rid, created = r.new_id(prefix), r.now()
    if not body.stream:
        done = [c async for c in pump.results(sub, request.is_disconnected)]
        if len(done) < sub.size:  # the client left; nobody reads this answer
            return JSONResponse({}, status_code=499)
        return whole(rid, created, model, done, body.n)

    async def events() -> AsyncIterator[str]:
        done: list[Completion] = []
        # Starlette cancels this generator when the client disconnects; leaving the loop
        # early makes ``results`` cancel the unfinished requests and free their KV blocks.
        try:
            async for c in pump.results(sub):
                done.append(c)
                for chunk in chunks(rid, created, model, c):
                    yield r.sse(chunk)
        except EngineError as exc:
            yield r.sse(APIError(500, str(exc), type="server_error").body())
        if body.include_usage:
            yield r.sse(r.usage_chunk(rid, created, model, chunk_object, done, body.n))
        yield r.sse("[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg', 'invalid value')}" if param else \
            str(first.get("msg", "invalid request body"))
        return JSONResponse(APIError(400, message, param=param).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else None
        return JSONResponse(APIError(exc.status_code, str(exc.detail), code=kind).body(),
                            status_code=exc.status_code)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(APIError(500, str(exc), type="server_error").body(), status_code=500)
