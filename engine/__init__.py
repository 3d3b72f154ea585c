"""HeliumSQL's inference layer: the ``Engine`` API every LLM operator runs on.

>>> from heliumsql.engine import Engine, SamplingParams                 # doctest: +SKIP
>>> eng = Engine("path/to/checkpoint", device="cpu")                     # doctest: +SKIP
>>> eng.generate(["Hello"], SamplingParams(max_tokens=8))[0].text        # doctest: +SKIP
"""

from heliumsql.engine.hf_engine import HFGenerateEngine
from heliumsql.engine.interface import EngineBackend
from heliumsql.engine.model_loader import load_model
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams

# Until the paged-KV engine lands, the reference backend answers everything.
Engine = HFGenerateEngine

__all__ = ["Completion", "Engine", "EngineBackend", "HFGenerateEngine", "SamplingParams", "load_model"]
