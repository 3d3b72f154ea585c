"""Grammar-constrained decoding: a request's JSON schema as a token mask at every decode step.

The grammar library is llguidance (see benchmarks/RESULTS.md for why): it turns a JSON schema
into a matcher over the model's tokenizer that says, after the tokens generated so far, which
next tokens keep the text a prefix of a valid value. The engine keeps one matcher per
constrained sequence, fills the masks of the whole batch in one parallel call (llguidance's
thread pool, outside the GIL), and sets disallowed logits to -inf before sampling, so greedy and
sampled decoding alike only ever produce text the schema accepts. When the value is complete and
nothing may follow, the matcher stops and the engine ends the sequence.

The schema is opaque here (a JSON string on ``SamplingParams``): what a type means is decided by
the caller, so the engine stays independent of SQL.

>>> GrammarConstraints(tokenizer, vocab_size=32000).matcher('{"type": "integer"}')  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from heliumsql.engine.errors import EngineError

# Compact JSON (no optional whitespace): the answer's length bound counts every byte.
_DEFAULTS = {"whitespace_flexible": False}


class GrammarConstraints:
    """Compiles schemas (cached per schema text) and masks a batch of logits rows.

    Built lazily on the first constrained request, so unconstrained use never loads the library.
    """

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self._hf_tokenizer, self.vocab_size = tokenizer, vocab_size
        self._tokenizer: Any = None
        self._executor: Any = None
        self._grammars: dict[str, str] = {}

    def _setup(self) -> None:
        import llguidance
        import llguidance.hf

        self._tokenizer = llguidance.hf.from_tokenizer(self._hf_tokenizer, n_vocab=self.vocab_size)
        self._executor = llguidance.LLExecutor()

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

    def apply(self, logits: torch.Tensor, matchers: Sequence[Any | None]) -> None:
        """Mask ``logits`` (one row per sequence) in place; rows whose matcher is None are free."""
        import llguidance.torch as lt

        rows = [(m, i) for i, m in enumerate(matchers) if m is not None]
        if not rows:
            return
        bitmask = lt.allocate_token_bitmask(len(matchers), self.vocab_size)
        lt.fill_next_token_bitmask_par(self._executor, rows, bitmask)
        # Free rows keep every token (allocate_token_bitmask starts all-allowed, but say so).
        free = [i for i, m in enumerate(matchers) if m is None]
        if free:
            bitmask[free] = -1
        masked = logits.float() if logits.device.type == "cpu" else logits
        lt.apply_token_bitmask_inplace(masked, bitmask.to(logits.device, non_blocking=True))
        if masked is not logits:
            logits.copy_(masked)

    @staticmethod
    def advance(matcher: Any, token: int) -> None:
        """Feed the sampled token to its matcher (the mask allowed it, so this cannot fail)."""
        if not matcher.consume_token(token):
            raise EngineError(f"internal error: the grammar rejected token {token} it allowed: "
                              f"{matcher.get_error()}; please report this")
