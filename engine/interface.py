"""The contract between the SQL executor and whatever answers LLM calls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, Union, runtime_checkable

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams

Prompt = Union[str, Sequence[int]]
Params = Union[SamplingParams, Sequence[SamplingParams]]


@runtime_checkable
class EngineBackend(Protocol):
    """What the executor needs from an engine; the local engine and other backends implement it.

    ``generate`` returns completions in request order; ``stream`` yields them as they finish
    (each tagged with ``Completion.index``). A ``str`` prompt is tokenized with the model's
    special tokens; a token-id list is used as is.
    """

    tokenizer: Any
    max_context: int
    fingerprint: str

    def generate(self, prompts: Sequence[Prompt], params: Params) -> list[Completion]: ...

    def stream(self, prompts: Sequence[Prompt], params: Params) -> Iterator[Completion]: ...

    def stats(self) -> dict[str, int]: ...
