"""Held-out accuracy of a checkpoint, measured through the inference engine users get.

Prompts are chat-formatted exactly as the SQL layer does it and answered by
:class:`heliumsql.engine.HFGenerateEngine` (greedy); ``filter`` items are constrained to the same
choices ``llm_filter`` uses.

>>> scores = evaluate(builtin_model_path(), heldout_split(per_task=5))    # doctest: +SKIP
>>> scores["sentiment"]["score"]                                         # doctest: +SKIP
1.0
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from heliumsql.models.example import Example
from heliumsql.models.tasks import TASKS

_WORD = re.compile(r"\w+")


def chat_ids(tokenizer: Any, ex: Example) -> list[int]:
    """Token ids of ``ex``'s chat-formatted prompt, ending with the assistant marker."""
    return list(tokenizer.apply_chat_template(ex.messages(), add_generation_prompt=True,
                                              tokenize=True, return_dict=False))


def token_f1(predicted: str, reference: str) -> float:
    """Word-overlap F1 of two strings (case-insensitive), the SQuAD-style partial credit."""
    p, r = _WORD.findall(predicted.lower()), _WORD.findall(reference.lower())
    common = sum(min(p.count(w), r.count(w)) for w in set(p))
    if not p or not r or not common:
        return float(p == r)
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def answer_all(engine: Any, items: Sequence[Example], max_tokens: int = 32) -> list[str]:
    """The engine's answer to every item (filter items constrained to yes/no, lowercased; typed
    items decoded under their call's JSON schema, as SQL does)."""
    from heliumsql.engine import SamplingParams
    from heliumsql.sampling import FILTER_CHOICES

    free = SamplingParams(max_tokens=max_tokens)
    choice = SamplingParams(max_tokens=max_tokens, choices=FILTER_CHOICES)
    prompts = [chat_ids(engine.tokenizer, ex) for ex in items]
    params = [typed_params(ex) if ex.typed else choice if ex.kind == "filter" else free
              for ex in items]
    out = engine.generate(prompts, params)
    return [c.text.strip().lower() if ex.kind == "filter" else c.text.strip()
            for c, ex in zip(out, items)]


def typed_params(ex: Example) -> Any:
    """The request a typed call makes for ``ex``: its answer schema at the default budget."""
    from heliumsql.engine import SamplingParams
    from heliumsql.grammar.typed_calls import TYPED_MAX_TOKENS, schema_text

    options = {**dict(ex.options), "max_tokens": TYPED_MAX_TOKENS}
    return SamplingParams(max_tokens=TYPED_MAX_TOKENS, json_schema=schema_text(options))


def score(task: str, predictions: Sequence[str], items: Sequence[Example]) -> dict[str, float]:
    """Exact-match accuracy, plus token F1 for free-text tasks."""
    exact = sum(p == ex.answer for p, ex in zip(predictions, items)) / len(items)
    result = {"n": len(items), "exact": round(exact, 4), "score": round(exact, 4),
              "metric": TASKS[task].metric}
    if TASKS[task].metric == "overlap":
        f1 = sum(token_f1(p, ex.answer) for p, ex in zip(predictions, items)) / len(items)
        result.update(token_f1=round(f1, 4), score=round(f1, 4))
    return result


def by_template(model: Any, heldout: dict[str, list[Example]], device: str = "cpu"
                ) -> dict[str, dict[str, list[int]]]:
    """[right, items] per task and phrasing template: whether a set's figure rests on a few
    of its phrasings."""
    from heliumsql.engine import HFGenerateEngine

    engine = model if hasattr(model, "generate") else HFGenerateEngine(model, device=device)
    out: dict[str, dict[str, list[int]]] = {}
    for task, items in sorted(heldout.items()):
        counts = out.setdefault(task, {})
        for predicted, ex in zip(answer_all(engine, items), items):
            right_total = counts.setdefault(ex.template, [0, 0])
            right_total[0] += predicted == ex.answer
            right_total[1] += 1
    return out


def evaluate(model: Any, heldout: dict[str, list[Example]], device: str = "cpu",
             log: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Score a checkpoint directory (or loaded engine) on every task of ``heldout``."""
    from heliumsql.engine import HFGenerateEngine

    engine = model if hasattr(model, "generate") else HFGenerateEngine(model, device=device)
    results = {}
    for task, items in sorted(heldout.items()):
        results[task] = score(task, answer_all(engine, items), items)
        if log:
            log(f"  {task:16s} {results[task]['score']:.3f}  (n={len(items)})")
    return results
