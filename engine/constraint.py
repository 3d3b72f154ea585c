"""Grammar-constrained decoding: a request's JSON schema as a token mask at every decode step.

The grammar library is llguidance (see benchmarks/RESULTS.md for why): it turns a JSON schema
into a matcher over the model's tokenizer that says, after the tokens generated so far, which
next tokens keep the text a prefix of a valid value. The engine keeps one matcher per
constrained sequence, fills the masks of the whole batch in one call (llguidance's worker,
outside the GIL, while the model's forward pass runs), and sets disallowed logits to -inf before
sampling, so greedy and
sampled decoding alike only ever produce text the schema accepts. When the value is complete and
nothing may follow, the matcher stops and the engine ends the sequence.

The schema is opaque here (a JSON string on ``SamplingParams``): what a type means is decided by
the caller, so the engine stays independent of SQL.

>>> GrammarConstraints(tokenizer, vocab_size=32000).matcher('{"type": "integer"}')  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from heliumsql.engine import token_bitmask
from heliumsql.engine.errors import EngineError

# Compact JSON (no optional whitespace): the answer's length bound counts every byte.
_DEFAULTS = {"whitespace_flexible": False}


@dataclass(frozen=True)
class PendingMask:
    """A step's masks being filled: the fill's future, the bitmask, the free rows."""

    future: Future[None]
    bitmask: torch.Tensor
    free: list[int]


class GrammarConstraints:
    """Compiles schemas (cached per schema text) and masks a batch of logits rows.

    Built lazily on the first constrained request, so unconstrained use never loads the library.
    """

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self._hf_tokenizer, self.vocab_size = tokenizer, vocab_size
        self._tokenizer: Any = None
        self._executor: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._grammars: dict[str, str] = {}

    def _setup(self) -> None:
        import llguidance
        import llguidance.hf

        self._tokenizer = llguidance.hf.from_tokenizer(self._hf_tokenizer, n_vocab=self.vocab_size)
        # One library thread: more would spin next to torch's threads and slow the forward pass
        # (measured: +50% step time on 2 cores); the fill still overlaps the forward pass.
        self._executor = llguidance.LLExecutor(num_threads=1)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grammar-mask")

    def matcher(self, schema: str) -> Any:
        """A fresh matcher for one sequence; EngineError if the schema is not one llguidance takes."""
        import llguidance

        if self._tokenizer is None:
            self._setup()
        grammar = self._grammars.get(schema)
        if grammar is None:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=_DEFAULTS)
            error = llguidance.LLMatcher.validate_grammar(grammar, self._tokenizer)
            if error:
                raise EngineError(f"cannot constrain decoding to the JSON schema {schema}: {error}")
            self._grammars[schema] = grammar
        out = llguidance.LLMatcher(self._tokenizer, grammar)
        if out.is_error():
            raise EngineError(f"cannot constrain decoding to the JSON schema {schema}: "
                              f"{out.get_error()}")
        return out

    def start(self, matchers: Sequence[Any | None]) -> PendingMask | None:
        """Begin filling the masks of one step (rows whose matcher is None are free) on the
        library's worker, so it overlaps the model's forward pass: a mask depends only on the
        tokens already generated. None when no row is constrained."""
        rows = [(m, i) for i, m in enumerate(matchers) if m is not None]
        if not rows:
            return None
        assert self._pool is not None  # set up by matcher(), which made these matchers
        bitmask = token_bitmask.allocate(len(matchers), self.vocab_size)
        free = [i for i, m in enumerate(matchers) if m is None]
        future = self._pool.submit(token_bitmask.fill, self._executor, rows, bitmask)
        return PendingMask(future, bitmask, free)

    def finish(self, logits: torch.Tensor, pending: PendingMask | None) -> None:
        """Mask ``logits`` (one row per sequence of ``start``) in place once the fill is done."""
        if pending is None:
            return
        pending.future.result()
        bitmask = pending.bitmask
        if pending.free:  # free rows keep every token
            bitmask[pending.free] = -1
        token_bitmask.apply_inplace(logits, bitmask.to(logits.device))

    def apply(self, logits: torch.Tensor, matchers: Sequence[Any | None]) -> None:
        """``start`` and ``finish`` in one go (when there is nothing to overlap with)."""
        self.finish(logits, self.start(matchers))

    def advance(self, steps: Sequence[tuple[Any, int]]) -> None:
        """Feed each sampled token to its matcher, all in one library call (the masks allowed
        these tokens, so none can be rejected)."""
        if not steps:
            return
        accepted = self._executor.consume_token_par(list(steps))
        for (matcher, token), ok in zip(steps, accepted):
            if not ok:
                raise EngineError(f"internal error: the grammar rejected token {token} it allowed: "
                                  f"{matcher.get_error()}; please report this")
