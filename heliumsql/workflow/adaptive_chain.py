"""Several LLM filters of one WHERE, ordered as rows flow (Eddies-style), cheapest first.

The chain's input (:class:`~heliumsql.plan.physical.ChainPlan`) gives every member's
prompt per row. Rows enter in batches (16 rows, then twice as many each time, up to
``max_batch``); each row visits the members in the order current when its batch entered and
stops at the first rejection, so a rejected row never costs another member a request. When a
batch is resolved, each member's pass rate (smoothed, from the rows that met it first: see
``ChainRun.selectivity``) and its cost (mean prompt tokens over the rows seen so far) rank the
members by ``cost / (1 - pass rate)`` for the next batch, the classic order for independent
predicates.

A member's requests go through the query's dispatcher like any other (shared, cached,
depth-first); identical prompts of a member are asked once. Prompts never asked answer the
rejecting value when the final statement looks them up (see
:mod:`heliumsql.plan.physical.chains` for why that is
sound), so the statement never computes them on demand.

>>> chain = AdaptiveChain(spec, operators, dispatcher.submit)     # doctest: +SKIP
>>> chain.start(con); chain.advance()       # then after each answer  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import duckdb

from heliumsql.plan.physical import ChainPlan
from heliumsql.runs import ChainRun
from heliumsql.workflow.request import LlmRequest

if TYPE_CHECKING:
    from heliumsql.operators.llm_filter import LlmFilter

FIRST_BATCH_ROWS = 16


class AdaptiveChain:
    """Routes the rows of one chain through its members; ``submit`` queues requests."""

    def __init__(self, spec: ChainPlan, operators: dict[int, LlmFilter],
                 submit: Callable[[Sequence[LlmRequest]], None], *, max_batch: int = 512,
                 first_batch: int = FIRST_BATCH_ROWS) -> None:
        self.spec, self.submit = spec, submit
        self.ops = {i: operators[i] for i in spec.members}
        self.max_batch, self.next_batch = max(max_batch, 1), max(min(first_batch, max_batch), 1)
        self.seen = dict.fromkeys(spec.members, 0)
        self.passed = dict.fromkeys(spec.members, 0)
        self.lead_seen = dict.fromkeys(spec.members, 0)
        self.lead_passed = dict.fromkeys(spec.members, 0)
        self.tokens = dict.fromkeys(spec.members, 0)
        self.token_rows = dict.fromkeys(spec.members, 0)
        self.orders: list[tuple[tuple[int, ...], int]] = []  # (order, rows entered with it)
        self.started = False
        self._rows: list[tuple[str | None, ...]] = []
        self._column = {m: k for k, m in enumerate(spec.members)}
        self._cursor = 0
        self._order: dict[int, tuple[int, ...]] = {}
        self._step: dict[int, int] = {}
        self._open = 0  # unresolved rows of the current batch
        self._waiting: dict[int, dict[str, list[int]]] = {m: defaultdict(list) for m in spec.members}
        self._ready: list[tuple[int, int]] = []  # (row, member) whose verdict just arrived

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the chain's input (every member's prompt per row) and tell the members that
        prompts they never ask answer the rejecting value."""
        self.started = True
        table = con.sql(self.spec.query).to_arrow_table()
        columns = [table.column(ChainPlan.prompt_column(m)).to_pylist() for m in self.spec.members]
        self._rows = list(zip(*columns)) if columns else []
        for member, op in self.ops.items():
            op.uncomputed_answer = self.spec.rejecting(member)

    @property
    def done(self) -> bool:
        return self.started and self._cursor >= len(self._rows) and self._open == 0

    def answered(self, member: int, prompt: str) -> None:
        """``member`` has its verdict for ``prompt``: the rows waiting on it move on."""
        for row in self._waiting[member].pop(prompt, ()):
            self._ready.append((row, member))

    def advance(self) -> bool:
        """Move every row that can move, start the next batch when this one is resolved, and
        submit the requests that creates. True if anything happened."""
        moved = False
        while True:
            if self._open == 0 and self._cursor < len(self._rows):
                self._enter_batch()
                moved = True
            if not self._ready:
                return moved
            moved = True
            ready, self._ready = self._ready, []
            asks: dict[int, list[str]] = defaultdict(list)
            for row, member in ready:
                self._on_verdict(row, member, asks)
            self._ask(asks)

    def run(self) -> ChainRun:
        """What was learned, for EXPLAIN ANALYZE."""
        members = self.spec.members
        return ChainRun(members, tuple(self.seen[m] for m in members),
                        tuple(self.passed[m] for m in members),
                        tuple(self.lead_seen[m] for m in members),
                        tuple(self.lead_passed[m] for m in members), tuple(self.orders))

    # -- routing -----------------------------------------------------------------------------
    def current_order(self) -> tuple[int, ...]:
        """Members by ``cost / (1 - pass rate)``; ties keep the plan's order."""
        members = self.spec.members
        learned = self.run()

        def rank(member: int) -> float:
            selectivity = learned.selectivity(member)
            if self.token_rows[member]:
                cost = self.tokens[member] / self.token_rows[member]
            else:
                cost = self.ops[member].node.cost or 1.0
            return cost / (1 - selectivity)

        return tuple(sorted(members, key=lambda m: (rank(m), members.index(m))))

    def _enter_batch(self) -> None:
        order = self.current_order()
        rows = range(self._cursor, min(self._cursor + self.next_batch, len(self._rows)))
        self._cursor = rows.stop
        self.next_batch = min(self.next_batch * 2, self.max_batch)
        if self.orders and self.orders[-1][0] == order:
            self.orders[-1] = (order, self.orders[-1][1] + len(rows))
        else:
            self.orders.append((order, len(rows)))
        for member in self.spec.members:  # cost: every member's prompt of every row entering
            op = self.ops[member]
            for row in rows:
                prompt = self._rows[row][self._column[member]]
                if prompt is not None:
                    self.tokens[member] += len(op.token_ids(prompt))
                    self.token_rows[member] += 1
        asks: dict[int, list[str]] = defaultdict(list)
        self._open = len(rows)
        for row in rows:
            self._order[row], self._step[row] = order, 0
            self._visit(row, asks)
        self._ask(asks)

    def _visit(self, row: int, asks: dict[int, list[str]]) -> None:
        """Send ``row`` to its next member (or settle it at once if that verdict is known)."""
        member = self._order[row][self._step[row]]
        prompt = self._rows[row][self._column[member]]
        self.ops[member].stats.rows_in += 1
        if prompt is None:  # NULL prompt: NULL verdict, the row is rejected at no cost
            self._settle(row, member, None, asks)
            return
        key = (prompt, 0)
        answers = self.ops[member].answers
        if key in answers:
            self._settle(row, member, answers[key], asks)
            return
        waiting = self._waiting[member]
        if prompt not in waiting:
            asks[member].append(prompt)
        waiting[prompt].append(row)

    def _on_verdict(self, row: int, member: int, asks: dict[int, list[str]]) -> None:
        prompt = self._rows[row][self._column[member]]
        self._settle(row, member, self.ops[member].answers.get((prompt, 0)), asks)

    def _settle(self, row: int, member: int, verdict: bool | None,
                asks: dict[int, list[str]]) -> None:
        self.seen[member] += 1
        lead = self._step[row] == 0
        self.lead_seen[member] += lead
        if not self.spec.passes(member, verdict):
            self._open -= 1
            return
        self.passed[member] += 1
        self.lead_passed[member] += lead
        self._step[row] += 1
        if self._step[row] == len(self.spec.members):
            self._open -= 1
            return
        self._visit(row, asks)

    def _ask(self, asks: dict[int, list[str]]) -> None:
        """Submit the new prompts; answers known at once (too long with on_error => 'null',
        shared, cached) come back through ``answered`` and are routed by ``advance``."""
        requests: list[LlmRequest] = []
        for member, prompts in asks.items():
            op = self.ops[member]
            made = op.request_now([(p, 0) for p in prompts])
            requests.extend(made)
            asked = {r.prompt for r in made}
            for prompt in prompts:
                if prompt not in asked:  # answered NULL without a request
                    self.answered(member, prompt)
        if requests:
            self.submit(requests)
