"""One error hierarchy for everything HeliumSQL raises.

DuckDB's own errors pass through unchanged; everything HeliumSQL detects derives from
:class:`HeliumError`, and its message says what to fix.
"""

from __future__ import annotations

# The root and the engine's errors live in the engine, which stands alone; re-exported here so
# this module stays the one place users import errors from.
from heliumsql.engine.errors import EngineError, HeliumError, ModelLoadError, PromptTooLongError


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


class CancelledError(HeliumError):
    """The query was cancelled (Ctrl-C); the connection and engine stay usable."""


__all__ = ["BindError", "CancelledError", "EngineError", "ExecutionError", "HeliumError",
           "ModelLoadError", "ParseError", "PlanError", "PromptTooLongError"]
