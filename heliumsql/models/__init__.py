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
from typing import Any

from heliumsql.errors import ModelLoadError

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_model_path() -> Path | None:
    """The shipped checkpoint directory, or ``None`` when the package holds no checkpoint.

    >>> heliumsql.connect(model=builtin_model_path())       # what model=None does  # doctest: +SKIP
    """
    return BUILTIN_DIR if (BUILTIN_DIR / "config.json").is_file() else None


def require_model(model: Any, where: str) -> Any:
    """``model`` itself, or the built-in checkpoint for ``None``; ``where`` names the argument
    to pass a model to when neither exists.

    >>> require_model("path/to/checkpoint", "heliumsql.connect(model=...)")
    'path/to/checkpoint'
    """
    if model is not None:
        return model
    path = builtin_model_path()
    if path is None:
        raise ModelLoadError(
            f"no model to answer LLM calls and no built-in model is installed: pass one to {where}, "
            "as a local Hugging Face checkpoint directory, a model id already in the local Hugging "
            "Face cache, or a loaded (model, tokenizer) pair")
    return path


__all__ = ["BUILTIN_DIR", "builtin_model_path", "require_model"]
