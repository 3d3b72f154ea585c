"""HeliumSQL's inference layer: the ``Engine`` API every LLM operator runs on.

>>> from heliumsql.engine import Engine, SamplingParams                 # doctest: +SKIP
>>> eng = Engine("path/to/checkpoint", device="cpu")                     # doctest: +SKIP
>>> eng.generate(["Hello"], SamplingParams(max_tokens=8))[0].text        # doctest: +SKIP
"""

from heliumsql.engine.config import EngineConfig
from heliumsql.engine.engine import Engine
from heliumsql.engine.hf_engine import HFGenerateEngine
from heliumsql.engine.interface import EngineBackend
from heliumsql.engine.model_loader import load_model
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams

__all__ = ["Completion", "Engine", "EngineBackend", "EngineConfig", "HFGenerateEngine", "SamplingParams",
           "load_model"]
