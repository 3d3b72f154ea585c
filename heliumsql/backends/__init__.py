"""Other implementations of the engine contract than the local engine.

``model="openai:NAME"`` names a model served by an OpenAI-compatible endpoint; the backend is
built only when the first LLM call needs it (importing this package never imports ``openai``).

>>> is_remote("openai:llama-3.1-8b"), is_remote("path/to/checkpoint")
(True, False)
>>> con = heliumsql.connect(model="openai:llama-3.1-8b", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from heliumsql.engine.interface import CompletionStream, EngineBackend, Params, Prompt
from heliumsql.errors import ModelLoadError

OPENAI_PREFIX = "openai:"


@runtime_checkable
class StatementBudgeted(Protocol):
    """A backend that counts each statement's requests against a budget (``max_requests``);
    the connection says when a statement begins."""

    def start_statement(self, max_requests: int | None) -> None: ...


@runtime_checkable
class FailureTolerant(Protocol):
    """A backend whose requests can fail one by one (a remote server). ``stream_tolerant`` is
    ``stream`` with one flag per prompt: a flagged request that still fails after the retries
    is answered by a completion whose ``finish_reason`` is
    :data:`~heliumsql.sampling.REQUEST_FAILED` (its text the error) and the others go on; an
    unflagged failure ends the stream with an error, as ``stream``'s does."""

    def stream_tolerant(self, prompts: Sequence[Prompt], params: Params,
                        tolerate: Sequence[bool]) -> CompletionStream: ...


def is_remote(model: Any) -> bool:
    """Whether ``model`` names a remote model (``"openai:NAME"``)."""
    return isinstance(model, str) and model.startswith(OPENAI_PREFIX)


def remote_backend(model: str, **options: Any) -> EngineBackend:
    """The backend for ``model`` (``"openai:NAME"``); ``options`` go to
    :class:`~heliumsql.backends.openai_compat.OpenAICompatBackend` (``base_url``, ``api_key``,
    ``max_concurrency``, ``max_requests``, ``timeout``, ``max_retries``, ...)."""
    from heliumsql.backends.openai_compat import OpenAICompatBackend

    name = model[len(OPENAI_PREFIX):]
    if not name:
        raise ModelLoadError(f"model {model!r} names no model: write 'openai:NAME', NAME as the "
                             "server lists it under /v1/models")
    try:
        return OpenAICompatBackend(name, **options)
    except TypeError as exc:  # an engine option the remote backend does not take
        raise ModelLoadError(f"model {model!r}: {exc}; a remote model takes base_url, api_key, "
                             "max_concurrency, max_requests, timeout, max_retries, "
                             "max_context and structured_output") from None


__all__ = ["OPENAI_PREFIX", "FailureTolerant", "StatementBudgeted", "is_remote", "remote_backend"]
