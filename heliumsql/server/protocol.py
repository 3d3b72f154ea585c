"""OpenAI's request bodies as pydantic models, and their translation to engine parameters.

Fields the engine cannot honour (``logprobs``, ``echo``, penalties, tools, ...) are refused with
a 400 naming the field rather than silently ignored; fields that change nothing here (``user``,
``metadata``, ``service_tier``, ...) are accepted and ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from heliumsql.engine.errors import EngineError
from heliumsql.engine.sampling import SamplingParams
from heliumsql.grammar.typed_calls import canonical_schema
from heliumsql.server.errors import APIError

# OpenAI's own limits, so a client gets the same 400 here as from the hosted API.
MAX_STOP_SEQUENCES = 4
MAX_N = 128


class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingRequest(BaseModel):
    """The parameters both endpoints share."""

    model_config = ConfigDict(extra="allow")

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=MAX_N)
    seed: int | None = None
    stop: Union[str, list[str], None] = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    # vLLM's extension (``extra_body={"ignore_eos": True}``): generate exactly max_tokens.
    ignore_eos: bool = False
    # vLLM's extension (``extra_body={"guided_choice": [...]}``): the answer is one of these
    # strings, decoded as the SQL path decodes llm_filter's yes/no.
    guided_choice: list[str] | None = Field(default=None, min_length=1)

    def refuse_unsupported(self, names: tuple[str, ...]) -> None:
        """A 400 for a parameter set to something the engine cannot do."""
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise APIError(400, f"{name} is not supported by this server; leave it at 0",
                               param=name, code="unsupported_parameter")
        if self.logit_bias:
            raise APIError(400, "logit_bias is not supported by this server", param="logit_bias",
                           code="unsupported_parameter")
        extra = self.model_extra or {}
        for name in names:
            if extra.get(name) not in (None, False, [], 0):
                raise APIError(400, f"{name} is not supported by this server", param=name,
                               code="unsupported_parameter")

    def stop_strings(self) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > MAX_STOP_SEQUENCES:
            raise APIError(400, f"stop takes at most {MAX_STOP_SEQUENCES} sequences, got "
                                f"{len(stop)}", param="stop")
        return tuple(s for s in stop if s)

    def json_schema(self) -> str | None:
        """The JSON schema the answer is decoded under (as text), if the request asks for one."""
        return None

    def sampling_params(self, default_max_tokens: int) -> list[SamplingParams]:
        """One :class:`SamplingParams` per choice (``n`` of them). With a ``seed`` and ``n > 1``
        choice ``i`` is sampled with ``seed + i``, so the choices differ yet a rerun repeats them;
        ``temperature == 0`` is greedy, and then every choice is the same answer."""
        max_tokens = self.max_tokens if self.max_tokens is not None else default_max_tokens
        stop = self.stop_strings()
        try:
            choices = tuple(self.guided_choice) if self.guided_choice else None
            return [SamplingParams(max_tokens=max_tokens, temperature=self.temperature,
                                   top_p=self.top_p, stop=stop, ignore_eos=self.ignore_eos,
                                   seed=None if self.seed is None else self.seed + i,
                                   choices=choices, json_schema=self.json_schema())
                    for i in range(self.n)]
        except EngineError as exc:  # the engine's own checks, worded for the user
            raise APIError(400, str(exc)) from exc

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionRequest(SamplingRequest):
    """``POST /v1/completions``: ``prompt`` is a string, a list of strings, a list of token ids
    or a list of token-id lists (one choice set per prompt)."""

    prompt: Union[str, list[str], list[int], list[list[int]]]

    def check(self) -> None:
        self.refuse_unsupported(("logprobs", "echo", "suffix"))
        best_of = (self.model_extra or {}).get("best_of")
        if best_of not in (None, self.n):
            raise APIError(400, "best_of is not supported by this server; use n", param="best_of",
                           code="unsupported_parameter")

    def prompts(self) -> list[str | list[int]]:
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p:
            raise APIError(400, "prompt is empty; give a string or a list of token ids",
                           param="prompt")
        if all(isinstance(x, int) for x in p):
            return [list(p)]  # type: ignore[arg-type]
        return list(p)  # type: ignore[arg-type]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[dict[str, Any]], None] = None

    def text(self) -> str:
        """The message's text: a string, or its text parts joined (other parts are refused)."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise APIError(400, f"message content of type {part.get('type')!r} is not "
                                    "supported; send text", param="messages")
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class ChatCompletionRequest(SamplingRequest):
    """``POST /v1/chat/completions``. ``response_format={"type": "json_schema", "json_schema":
    {"schema": ...}}`` decodes the answer under that schema (the engine's constrained decoding:
    the answer always parses), as a typed SQL call is decoded locally."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def json_schema(self) -> str | None:
        fmt = (self.model_extra or {}).get("response_format")
        if not fmt or fmt.get("type") != "json_schema":
            return None
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, (dict, bool)):
            raise APIError(400, "response_format json_schema needs a 'schema' (a JSON schema "
                                "object)", param="response_format")
        return canonical_schema(schema)  # the local path's text: the same greedy answer

    def check(self) -> None:
        self.refuse_unsupported(("logprobs", "top_logprobs", "tools", "functions", "tool_choice",
                                 "audio", "prediction"))
        fmt = (self.model_extra or {}).get("response_format")
        if fmt and fmt.get("type", "text") not in ("text", "json_schema"):
            raise APIError(400, "response_format takes type 'text' or 'json_schema' on this "
                                "server", param="response_format", code="unsupported_parameter")
        if self.json_schema() is not None and self.guided_choice:
            raise APIError(400, "give guided_choice or a response_format json_schema, not both",
                           param="response_format")
        if self.max_completion_tokens is not None:
            # The newer name wins, as in OpenAI's API.
            self.max_tokens = self.max_completion_tokens
