"""The reference backend: one Hugging Face ``generate`` call per request, no shared cache.

It is the yardstick the local engine is checked against (token-identical greedy output) and the
"naive" system in the benchmarks. It is deliberately plain; use :class:`heliumsql.engine.Engine`
for real work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from heliumsql.engine.constraint import GrammarConstraints
from heliumsql.engine.errors import PromptTooLongError, excerpt
from heliumsql.engine.interface import CompletionStream, Params, Prompt
from heliumsql.engine.model_loader import (ModelSpec, context_length, load_model,
                                           model_fingerprint)
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams, finish_text, params_list


class HFGenerateEngine:
    """Answers each request with its own ``model.generate`` call (greedy or seeded sampling)."""

    def __init__(self, model: ModelSpec, device: str = "auto", dtype: Any = None) -> None:
        self.model, self.tokenizer = load_model(model, device, dtype)
        self._grammars = GrammarConstraints(self.tokenizer,
                                            self.model.get_input_embeddings().num_embeddings)
        self.device = next(self.model.parameters()).device
        self.max_context = context_length(self.model)
        self.fingerprint = model_fingerprint(self.model)
        self._lock = threading.Lock()
        self._stats = dict(prompt_tokens=0, cached_tokens=0, computed_prefill_tokens=0,
                           generated_tokens=0, preemptions=0, evictions=0, steps=0)

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return list(prompt)

    def generate(self, prompts: Sequence[Prompt], params: Params) -> list[Completion]:
        return sorted(self.stream(prompts, params), key=lambda c: c.index)

    def stream(self, prompts: Sequence[Prompt], params: Params) -> CompletionStream:
        """Answer the prompts one by one as the stream is read (nothing is ready ahead)."""
        return _Lazy(self._answers(prompts, params_list(params, len(prompts))))

    def cancel(self, stream: CompletionStream) -> None:
        """Stop ``stream``: prompts not yet answered never run."""
        stream.close()

    def _answers(self, prompts: Sequence[Prompt], plist: list[SamplingParams]
                 ) -> Iterator[Completion]:
        for index, (prompt, p) in enumerate(zip(prompts, plist)):
            with self._lock:
                yield self._one(index, prompt, p)

    def _one(self, index: int, prompt: Prompt, p: SamplingParams) -> Completion:
        ids = self.encode(prompt)
        if len(ids) + 1 > self.max_context:
            text = excerpt(prompt if isinstance(prompt, str) else self.tokenizer.decode(ids[:100]))
            raise PromptTooLongError(
                f"prompt {index} ({text!r}) has {len(ids)} tokens; the model's context is "
                f"{self.max_context}", len(ids), self.max_context, index, text)
        max_new = min(p.max_tokens, self.max_context - len(ids))
        if p.choices is not None:
            max_new = 1 + max(len(self.tokenizer.encode(c, add_special_tokens=False)) for c in p.choices)
        kwargs: dict[str, Any] = dict(max_new_tokens=max_new, do_sample=not p.greedy,
                                      pad_token_id=self.tokenizer.pad_token_id)
        if not p.greedy:
            kwargs.update(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or None)
        if p.stop:
            kwargs.update(stop_strings=list(p.stop), tokenizer=self.tokenizer)
        stop_ids = list(p.stop_token_ids)
        if not p.ignore_eos and self.tokenizer.eos_token_id is not None:
            stop_ids.append(self.tokenizer.eos_token_id)
        kwargs["eos_token_id"] = stop_ids or None
        if p.choices is not None:
            kwargs["prefix_allowed_tokens_fn"] = _choice_constraint(self.tokenizer, p.choices, len(ids))
        if p.json_schema is not None:
            kwargs["logits_processor"] = [_GrammarMask(self._grammars, p.json_schema, len(ids))]
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            if p.seed is not None:
                torch.manual_seed(p.seed)
            out = self.model.generate(torch.tensor([ids], device=self.device), **kwargs)
        gen = out[0, len(ids):].tolist()
        while gen and gen[-1] == self.tokenizer.pad_token_id and gen[-1] not in stop_ids:
            gen.pop()
        self._stats["prompt_tokens"] += len(ids)
        self._stats["computed_prefill_tokens"] += len(ids)
        self._stats["generated_tokens"] += len(gen)
        self._stats["steps"] += len(gen)
        if p.choices is not None:
            choice_ids = [self.tokenizer.encode(c, add_special_tokens=False) for c in p.choices]
            chosen = next((i for i, c in enumerate(choice_ids) if gen[:len(c)] == c), None)
            return Completion(index, p.choices[chosen] if chosen is not None else "", tuple(gen),
                              len(ids), 0, "choice", chosen)
        hit_stop = bool(gen) and gen[-1] in stop_ids
        text, by_string = finish_text(self.tokenizer, gen, p)
        reason = "stop" if hit_stop or by_string else "length"
        return Completion(index, text, tuple(gen), len(ids), 0, reason)

    def stats(self) -> dict[str, int]:
        return dict(self._stats)


class _Lazy:
    """A :class:`CompletionStream` over a generator that answers one prompt per ``next``."""

    def __init__(self, answers: Iterator[Completion]) -> None:
        self._answers = answers

    def __iter__(self) -> Iterator[Completion]:
        return self

    def __next__(self) -> Completion:
        return next(self._answers)

    def num_ready(self) -> int:
        return 0

    def close(self) -> None:
        self._answers.close()


class _GrammarMask:
    """A ``logits_processor`` masking each step to the JSON schema (as the engine does)."""

    def __init__(self, grammars: GrammarConstraints, schema: str, prompt_len: int) -> None:
        self.grammars, self.matcher, self.done = grammars, grammars.matcher(schema), prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for token in input_ids[0, self.done:].tolist():  # one at a time: one matcher
            self.grammars.advance([(self.matcher, token)])
        self.done = input_ids.shape[1]
        self.grammars.apply(scores, [self.matcher])
        return scores


def _choice_constraint(tokenizer: Any, choices: Sequence[str], prompt_len: int):
    """``prefix_allowed_tokens_fn`` that walks the trie of the choices' token sequences."""
    seqs = [tokenizer.encode(c, add_special_tokens=False) for c in choices]
    eos = tokenizer.eos_token_id

    def allowed(_batch_id: int, input_ids: torch.Tensor) -> list[int]:
        done = input_ids[prompt_len:].tolist()
        nxt = {s[len(done)] for s in seqs if len(s) > len(done) and s[:len(done)] == done}
        return sorted(nxt) if nxt else [eos]

    return allowed
