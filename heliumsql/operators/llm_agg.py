"""``llm_agg(...)``: one answer per group; the input query already renders one prompt per group.
A group whose prompt exceeds the context is aggregated hierarchically
(:mod:`heliumsql.operators.agg_tree`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heliumsql.errors import ExecutionError
from heliumsql.operators.agg_tree import ValueTooLong, aggregate, group_shape
from heliumsql.operators.base import Key, LlmOperator, cut, excerpt
from heliumsql.workflow.request import LlmRequest


class LlmAgg(LlmOperator):
    """The aggregate LLM operator (EXPLAIN: ``LlmAgg``). DuckDB groups the rows and
    renders each group's values into the prompt, so per prompt it works like ``llm``.

    A group too long for the context is answered at once, when the node starts, by a tree of
    calls (each level needs the answers of the one below, so they cannot wait for the
    workflow's batch); EXPLAIN ANALYZE's ``tree`` line counts its levels and calls.

    >>> LlmAgg(node, context).execute()   # doctest: +SKIP
    """

    def requests_for(self, keys: Sequence[Key], lane: int | None = None) -> list[LlmRequest]:
        limit = self.context.engine.max_context
        fitting: list[Key] = []
        too_long: list[Key] = []
        for k in keys:
            (fitting if len(self.token_ids(k[0])) + 1 <= limit else too_long).append(k)
        if too_long:
            self.answers.update(self._trees(too_long))
        return super().requests_for(fitting, lane)

    def _fits(self, prompt: str) -> bool:
        """A chunk's prompt must leave room for its whole answer."""
        budget = self.context.engine.max_context - self.node.call.option("max_tokens")
        return len(self.token_ids(prompt)) < budget

    def _ask(self, prompts: list[str]) -> list[str]:
        answers = self.compute([(p, 0) for p in prompts])
        return [answers[(p, 0)] for p in prompts]

    def _trees(self, keys: list[Key]) -> dict[Key, Any]:
        shape = group_shape(self.node.input) if self.node.input is not None else None
        if shape is None:  # not template-shaped (cannot happen for llm_agg's own rendering)
            return {k: self._too_long_answer(k[0]) for k in keys}
        # Only the over-long groups' rows come to Python, not every group's values.
        wanted = sorted({k[0] for k in keys})
        picked = self.context.con.sql(
            f"SELECT * FROM ({shape.rows_sql}) AS g(prompt, rows) "
            "WHERE prompt IN (SELECT unnest($wanted::VARCHAR[]))", params={"wanted": wanted})
        groups = {p: [tuple(r) for r in rows] for p, rows in picked.fetchall()}
        out: dict[Key, Any] = {}
        levels: list[int] = []
        for key in keys:
            rows = groups.get(key[0])
            if rows is None or shape.render(rows) != key[0]:
                out[key] = self._too_long_answer(key[0])
                continue
            try:
                out[key], calls = aggregate(shape, rows, self._fits, self._ask)
            except ValueTooLong as exc:
                out[key] = self._value_too_long(key[0], rows[exc.row])
                continue
            except ValueError:
                raise ExecutionError(
                    f"{self.name} ({cut(self.node.call.text)}): a group is longer than the "
                    "context and two answers of max_tokens tokens do not fit one prompt to merge "
                    "them; lower max_tokens") from None
            for level, num_calls in enumerate(calls):
                if level < len(levels):
                    levels[level] += num_calls
                else:
                    levels.append(num_calls)
        if levels:
            per_level = ", ".join(f"level {i}: {n}" for i, n in enumerate(levels))
            self.stats.details.append(
                ("tree", f"{len(keys)} groups over the context: {len(levels)} levels, "
                         f"{sum(levels)} calls ({per_level})"))
        return out

    def _too_long_answer(self, prompt: str) -> None:
        if self.node.call.option("on_error") != "null":
            ids = self.token_ids(prompt)
            raise self._too_long(prompt, len(ids), self.context.engine.max_context)
        return None

    def _value_too_long(self, prompt: str, row: tuple[str, ...]) -> None:
        if self.node.call.option("on_error") != "null":
            raise ExecutionError(
                f"{self.name} ({cut(self.node.call.text)}): the group whose prompt is "
                f"{excerpt(prompt)} holds the value {excerpt(' | '.join(row))}, which with the "
                f"template and max_tokens does not fit the model's context of "
                f"{self.context.engine.max_context} tokens on its own. Shorten it, or pass "
                "on_error => 'null' to get NULL for such groups")
        return None
