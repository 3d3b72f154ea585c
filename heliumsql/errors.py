"""One error hierarchy for everything HeliumSQL raises.

DuckDB's own errors pass through unchanged; everything HeliumSQL detects derives from
:class:`HeliumError`, and its message says what to fix.
"""

from __future__ import annotations


class HeliumError(Exception):
    """Root of every error HeliumSQL raises itself."""


class ParseError(HeliumError):
    """The SQL text could not be parsed.

    ``line`` and ``column`` are 1-based; ``excerpt`` is the offending line with a caret under
    the offending text.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 excerpt: str = "") -> None:
        self.line, self.column, self.excerpt = line, column, excerpt
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{where}" + (f"\n{excerpt}" if excerpt else ""))


class BindError(HeliumError):
    """A name (column, placeholder, argument) does not resolve."""


class PlanError(HeliumError):
    """The query is valid SQL but cannot be planned (e.g. an LLM call where none is allowed)."""


class ExecutionError(HeliumError):
    """Running an operator failed; the message names the operator (and the row when one is at fault)."""


class EngineError(HeliumError):
    """The inference engine cannot do what was asked (bad model, prompt too long, pool too small)."""


class ModelLoadError(EngineError):
    """A model path or id could not be loaded; the message names it and what was expected."""


class PromptTooLongError(EngineError):
    """A prompt does not fit the model's context window."""

    def __init__(self, message: str, num_prompt_tokens: int, max_context: int,
                 request_index: int | None = None) -> None:
        self.num_prompt_tokens, self.max_context = num_prompt_tokens, max_context
        self.request_index = request_index
        super().__init__(message)


class CancelledError(HeliumError):
    """The query was cancelled (Ctrl-C); the connection and engine stay usable."""
