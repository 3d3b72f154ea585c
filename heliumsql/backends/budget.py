"""The safety budget of a remote backend: at most N requests per statement.

Checked when a batch of requests reaches the backend, before any of it is sent: the runtime
hands the backend every request of a stage at once (up to its window of 512), after the result
cache and the deduplication of identical calls have answered what they can, so a single-stage
statement over too many rows is refused with nothing sent. A later stage whose requests would
go over the budget is refused the same way, before its own requests go out; answers of earlier
stages are kept by the result cache.

>>> budget = RequestBudget()
>>> budget.start(3); budget.take(2, "http://h/v1"); budget.used
2
>>> budget.take(2, "http://h/v1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
heliumsql.errors.ExecutionError: this statement would send at least 4 requests to http://h/v1 (2 already sent, 2 more now), ...
"""

from __future__ import annotations

from dataclasses import dataclass

from heliumsql.errors import ExecutionError


@dataclass
class RequestBudget:
    """Requests sent in the current statement (``used``) against ``limit`` (None: no limit)."""

    limit: int | None = None
    used: int = 0

    def start(self, limit: int | None) -> None:
        """A new statement begins: the count starts again from zero."""
        self.limit, self.used = limit, 0

    def take(self, num_requests: int, endpoint: str) -> None:
        """Count ``num_requests`` about to be sent, or refuse them all."""
        if self.limit is not None and self.used + num_requests > self.limit:
            total = self.used + num_requests
            sent = f" ({self.used} already sent, {num_requests} more now)" if self.used else ""
            raise ExecutionError(
                f"this statement would send at least {total} requests to {endpoint}{sent}, more "
                f"than helium_max_requests = {self.limit}; nothing more was sent. Raise the limit "
                "(SET helium_max_requests = N, or connect(max_requests=N)), or select fewer rows "
                "before the LLM call")
        self.used += num_requests
