"""``LIMIT n`` over an ``llm_filter``: stop once n input rows passed, in input order.

The filter's prompts are issued in input order, a few at a time; the limit is reached when the
answered *leading* rows of the input (every row up to some point has its verdict) hold n
passing rows. Those are then exactly the first n passing rows of the input, the rows the
unoptimized query returns, and everything after them can be cancelled.

>>> lim = FilterLimit(2, ["a", "b", "a", "c"])
>>> lim.answer("b", True), lim.answer("a", False), lim.answer("c", True), lim.reached
(False, False, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence


class FilterLimit:
    """Tracks verdicts for ``rows``: each input row's prompt, in input order (repeats kept)."""

    def __init__(self, limit: int, rows: Sequence[str]) -> None:
        self.limit, self.rows = limit, list(rows)
        self.verdicts: dict[str, bool] = {}
        self.passed = 0  # passing rows among the answered leading rows
        self._cursor = 0
        self.reached = limit <= 0

    @property
    def rows_needed(self) -> int:
        return max(self.limit - self.passed, 0)

    def answer(self, prompt: str, verdict: bool | None) -> bool:
        """Record a verdict; True when this one made the limit reached."""
        self.verdicts[prompt] = bool(verdict)
        if self.reached:
            return False
        while (self.passed < self.limit and self._cursor < len(self.rows)
               and self.rows[self._cursor] in self.verdicts):
            self.passed += self.verdicts[self.rows[self._cursor]]
            self._cursor += 1
        self.reached = self.passed >= self.limit
        return self.reached

    def chunk(self) -> int:
        """How many prompts to have in flight: twice what the limit still needs, at least 8."""
        return max(8, 2 * self.rows_needed)
