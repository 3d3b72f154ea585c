"""``llm_filter(..., strategy => 'candidates', k => N)`` in ``JOIN ... ON``: the nested-loop
join over only the pairs whose right text is among the N most similar (embedding cosine) to
their left text; every other pair is not a match (see :mod:`heliumsql.plan.join_candidates`
for the texts, the ranking and why it is opt-in)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from heliumsql.embedding_model import embed_texts
from heliumsql.errors import ExecutionError, PlanError
from heliumsql.operators.base import Key
from heliumsql.operators.llm_filter import LlmFilter

# Below every cosine: a side with no text (every placeholder NULL or empty) ranks last.
_NO_TEXT = -2.0


def top_pairs(pairs: Iterable[tuple[str, str]], k: int,
              embed: Callable[[list[str]], Mapping[str, np.ndarray]]) -> set[tuple[str, str]]:
    """The (left text, right text) pairs whose right text is among the ``k`` distinct right
    texts of its left text's pairs with the highest cosine (ties: the smaller text first).
    ``embed`` gives the vectors of the non-empty texts to rank (none when no left text has
    more than ``k`` right texts: then every pair is kept).

    >>> v = {"a": np.array([1.0, 0.0]), "x": np.array([1.0, 0.1]), "y": np.array([0.0, 1.0])}
    >>> sorted(top_pairs([("a", "x"), ("a", "y"), ("a", ""), ("b", "y")], 2, lambda t: v))
    [('a', 'x'), ('a', 'y'), ('b', 'y')]
    """
    rights_of: dict[str, dict[str, None]] = {}
    for left, right in pairs:
        rights_of.setdefault(left, {})[right] = None
    ranked = [left for left, found in rights_of.items() if len(found) > k]
    texts = dict.fromkeys(t for left in ranked for t in (left, *rights_of[left]) if t)
    vectors = embed(list(texts)) if texts else {}
    kept: set[tuple[str, str]] = set()
    for left, found in rights_of.items():
        rights = sorted(found)
        if len(rights) > k:
            sims = np.array([_cosine(vectors.get(left), vectors.get(r)) for r in rights])
            rights = [rights[i] for i in np.argsort(-sims, kind="stable")[:k]]
        kept.update((left, r) for r in rights)
    return kept


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return _NO_TEXT
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm else 0.0


class LlmJoinCandidates(LlmFilter):
    """Answers BOOLEAN per pair prompt; asks the model only about the top-k pairs.

    >>> LlmJoinCandidates(node, context).materialize()   # doctest: +SKIP
    """

    # A pair the statement meets outside the top k is not a match (never asked).
    uncomputed_answer = False

    def read_keys(self) -> list[Key]:
        """The prompts of the kept pairs, in input order (the input reads prompt, left text,
        right text per candidate pair)."""
        rows: list[tuple[str, str, str]] = []
        for batch in self.read_input():
            columns = [batch.column(i).to_pylist() for i in range(3)]
            self.stats.rows_in += batch.num_rows
            rows.extend(zip(*columns))
        join = self.node.join
        assert join is not None and join.k is not None
        kept = top_pairs(((l, r) for _, l, r in rows), join.k, self._vectors)
        keys = [(p, 0) for p, l, r in rows if (l, r) in kept]
        self.stats.kept_pairs = len(keys)
        return keys

    def _vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The embeddings of ``texts`` (each once, result-cached)."""
        if self.context.embeddings is None:
            raise ExecutionError(f"{self.name}: strategy => 'candidates' needs an embedding "
                                 "model; run the query through heliumsql.connect(...)")
        try:
            model = self.context.embeddings.get(None)
        except PlanError as exc:  # its message speaks of llm_embed(); the fix is the same
            raise PlanError(f"{self.name}: strategy => 'candidates' ranks pairs by embedding "
                            f"cosine: {exc}") from None
        found = embed_texts(model, texts, self.context.cache)
        self.stats.details.append(("candidates", f"texts_embedded={len(found.vectors)} "
                                   f"from_result_cache={found.num_cached}"))
        return found.vectors
