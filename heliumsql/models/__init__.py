"""The built-in model: a small Llama trained by ``python -m heliumsql.models.train``, shipped in
the package so ``heliumsql.connect()`` answers LLM calls offline with no model argument.

It knows a fixed set of tasks (see :mod:`heliumsql.models.tasks`): review sentiment, topic,
yes/no questions about a review or article, extracting a name, city or number, a one-line
summary, and the analyst / portfolio manager / trader steps of the agentic demo.

>>> path = builtin_model_path()
>>> path is None or (path / "config.json").is_file()
True
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_model_path() -> Path | None:
    """The shipped checkpoint directory, or ``None`` when the package holds no checkpoint.

    >>> heliumsql.connect(model=builtin_model_path())       # what model=None does  # doctest: +SKIP
    """
    return BUILTIN_DIR if (BUILTIN_DIR / "config.json").is_file() else None


__all__ = ["BUILTIN_DIR", "builtin_model_path"]
