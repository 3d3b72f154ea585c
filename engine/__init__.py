"""HeliumSQL's inference layer: the ``Engine`` API every LLM operator runs on.

>>> from heliumsql.engine import Engine, SamplingParams                 # doctest: +SKIP
>>> eng = Engine("path/to/checkpoint", device="cpu")                     # doctest: +SKIP
>>> eng.generate(["Hello"], SamplingParams(max_tokens=8))[0].text        # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

from heliumsql.engine.errors import EngineError, ModelLoadError, PromptTooLongError
from heliumsql.engine.interface import CompletionStream, EngineBackend, PrefixCachingEngine
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams

# Importing torch takes seconds; these load on first use so pure SQL and the REPL start fast.
_LAZY = {"Engine": "heliumsql.engine.engine", "EngineConfig": "heliumsql.engine.config",
         "HFGenerateEngine": "heliumsql.engine.hf_engine",
         "load_model": "heliumsql.engine.model_loader"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'heliumsql.engine' has no attribute {name!r}")


__all__ = ["Completion", "CompletionStream", "Engine", "EngineBackend", "EngineConfig", "EngineError",
           "HFGenerateEngine", "ModelLoadError", "PrefixCachingEngine", "PromptTooLongError",
           "SamplingParams", "load_model"]
