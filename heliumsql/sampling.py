"""Turning an LLM call's SQL options into the engine's ``SamplingParams``: one place, used by the
query operators and by the DuckDB UDFs alike, so both modes sample the same answer.

``llm_filter`` is constrained to a yes/no choice. Other calls take ``max_tokens``,
``temperature``, ``top_p``, ``top_k`` and ``stop`` as given; with temperature > 0 the seed is
derived from everything that defines the answer (model fingerprint, prompt, every option,
sample number), so deduplication, reordering, caching and batching never change a result.

>>> p = sampling_params({"max_tokens": 4, "temperature": 0.0}, fingerprint="m", prompt="Hi")
>>> p.max_tokens, p.temperature, p.seed
(4, 0.0, None)
>>> a = sampling_params({"temperature": 0.5}, fingerprint="m", prompt="Hi")
>>> a.seed == sampling_params({"temperature": 0.5}, fingerprint="m", prompt="Hi").seed
True
>>> filter_params().choices
('yes', 'no', 'Yes', 'No')
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from heliumsql.engine.sampling import SamplingParams

# The answers llm_filter may give; the first two spellings and their capitalised forms.
FILTER_CHOICES = ("yes", "no", "Yes", "No")
# The finish reason of a choice request whose answer named no choice (a backend that cannot
# constrain decoding read the free answer): llm_filter raises, or gives NULL with on_error => 'null'.
UNPARSED_CHOICE = "unparsed"
# The finish reason of a request a remote server never answered (still failing after the
# client's retries) when the call has on_error => 'null'; the completion's text is the error.
# The operator gives NULL for the row; the result cache never keeps it, so a rerun asks again.
REQUEST_FAILED = "request_failed"
# With n > 1 and no temperature, samples would all be identical; this is the documented default.
DEFAULT_SAMPLING_TEMPERATURE = 0.7


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from the repr of ``parts``: same inputs, same seed, in any process."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def filter_params() -> SamplingParams:
    """An ``llm_filter`` request: a constrained yes/no."""
    return SamplingParams(max_tokens=8, choices=FILTER_CHOICES)


def filter_verdict(choice: int | None) -> bool | None:
    """The BOOLEAN an ``llm_filter`` answer means (None when no choice was made)."""
    return None if choice is None else FILTER_CHOICES[choice].lower() == "yes"


def sampling_params(options: Mapping[str, Any], *, fingerprint: str, prompt: str,
                    sample: int = 0, num_samples: int = 1,
                    json_schema: str | None = None) -> SamplingParams:
    """The request for one call of ``llm``/``llm_agg``/``llm_map``; ``options`` are the call's
    options as the grammar's catalog holds them (defaults filled in); ``json_schema`` the
    typed answer's schema (heliumsql.grammar.typed_calls.answer_schema), as JSON text."""
    temperature = options.get("temperature") or 0.0
    if num_samples > 1 and temperature == 0:
        temperature = DEFAULT_SAMPLING_TEMPERATURE
    seed = None
    if temperature > 0:
        seed = stable_seed(fingerprint, prompt, tuple(options.items()), sample)
    given = {k: options[k] for k in ("max_tokens", "top_p", "top_k") if options.get(k) is not None}
    # A typed answer ends where its grammar ends: stop strings would cut JSON short.
    stop = () if json_schema is not None else tuple(options.get("stop") or ())
    return SamplingParams(temperature=temperature, stop=stop, seed=seed, json_schema=json_schema,
                          **given)
