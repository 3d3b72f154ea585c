"""The errors the engine raises, rooted in the package's one error hierarchy.

The root, :class:`HeliumError`, is defined here rather than in ``heliumsql.errors`` because the
engine stands alone (it imports nothing from ``heliumsql`` outside ``heliumsql.engine``) while
``except heliumsql.HeliumError`` must still catch what it raises: ``heliumsql.errors`` re-exports
these classes and derives its own from the same root.
"""

from __future__ import annotations


class HeliumError(Exception):
    """Root of every error HeliumSQL raises itself."""


class EngineError(HeliumError):
    """The inference engine cannot do what was asked (bad model, prompt too long, pool too small)."""


class ModelLoadError(EngineError):
    """A model could not be loaded or placed on a device; the message names the path (or the
    object given) and what was expected."""


class PromptTooLongError(EngineError):
    """A prompt does not fit the model's context window.

    ``request_index`` is the prompt's position in its ``generate``/``stream`` call (``None`` for
    a pinned prefix) and ``excerpt`` its first characters, so the SQL layer can name the row.

    >>> e = PromptTooLongError("too long", 900, 512, request_index=3, excerpt=excerpt("x" * 100))
    >>> e.request_index, len(e.excerpt)
    (3, 81)
    """

    def __init__(self, message: str, num_prompt_tokens: int, max_context: int,
                 request_index: int | None = None, excerpt: str = "") -> None:
        self.num_prompt_tokens, self.max_context = num_prompt_tokens, max_context
        self.request_index, self.excerpt = request_index, excerpt
        super().__init__(message)


def excerpt(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with "…" when cut), on one line, for messages.

    >>> excerpt("Summarize:\\nthe whole review", 12)
    'Summarize: t…'
    """
    flat = " ".join(text.split("\n"))
    return flat if len(flat) <= limit else flat[:limit] + "…"
