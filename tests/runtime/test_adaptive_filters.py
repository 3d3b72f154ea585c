"""LLM filters of one WHERE ordered by what the runtime learns from the first batches.

The plan-time order below is wrong on purpose: the cheap filter (short template) keeps almost
every row, the expensive one (long template) rejects almost every row, so ``cost / (1 -
selectivity)`` favours the expensive one once pass rates are known. A scripted stand-in
(``ScriptedEngine``: the real tiny engine computes every request, only the yes/no choice is
replaced by a rule on the row) makes those pass rates controllable; a run on the real tiny
model's own answers checks the same invariants.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

import pytest
import sqlglot
from runtime_helpers import assert_engine_idle

import heliumsql
from heliumsql.errors import CancelledError
from heliumsql.executor import Executor

ROWS = 96
TABLE = (f"CREATE TABLE things AS SELECT i AS id, 'item ' || lpad(i::VARCHAR, 3, '0') AS t, "
         f"i % 3 AS grp FROM range(1, {ROWS + 1}) r(i)")
CHEAP = "ok? {t}"
EXPENSIVE = "Think step by step about this item and decide whether it is rare: {t}"
QUERY = f"SELECT id FROM things WHERE llm_filter('{EXPENSIVE}') AND llm_filter('{CHEAP}') ORDER BY id"


def cheap_passes(row: int) -> bool:
    return row % 16 != 0


def expensive_passes(row: int) -> bool:
    return row % 8 == 0


def scripted(text: str) -> bool:
    row = int(re.search(r"item (\d{3})", text)[1])
    return expensive_passes(row) if "step by step" in text else cheap_passes(row)


class ScriptedEngine:
    """The real engine computes every request; ``script(prompt text)`` (when given) picks the
    filter's choice. Logs (prompt text, verdict) of every answer in the order they arrive."""

    def __init__(self, engine: Any, script: Callable[[str], bool] | None = None) -> None:
        self._engine, self.script = engine, script
        self.answers: list[tuple[str, bool | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream(self, prompts: Sequence[Any], params: Any) -> Iterator[Any]:
        texts = [self._engine.tokenizer.decode(list(p)) for p in prompts]

        def run() -> Iterator[Any]:
            with closing(self._engine.stream(prompts, params)) as inner:
                for completion in inner:
                    text = texts[completion.index]
                    if self.script is not None and completion.choice is not None:
                        completion = dataclasses.replace(
                            completion, choice=0 if self.script(text) else 1)
                    verdict = None if completion.choice is None else completion.choice % 2 == 0
                    self.answers.append((text, verdict))
                    yield completion

        return run()

    def asked(self) -> list[tuple[str, int, bool | None]]:
        """(filter, row, verdict) per answer, in arrival order."""
        out = []
        for text, verdict in self.answers:
            row = int(re.search(r"item (\d{3})", text)[1])
            out.append(("expensive" if "step by step" in text else "cheap", row, verdict))
        return out


@pytest.fixture
def things(connect) -> Callable[..., heliumsql.connection.Connection]:  # noqa: ANN001
    """``connect`` with the things table (instead of items)."""
    return lambda engine, **options: connect(engine, setup=TABLE, **options)


def run(con: heliumsql.connection.Connection, engine: Any, sql: str, *, adaptive: bool,
        batch_size: int = 512) -> tuple[list[tuple], Any, Any]:
    executor = Executor(con.duckdb, lambda: engine, True, batch_size=batch_size,
                        adaptive_filters=adaptive)
    result, plan, stats = executor.run(sqlglot.parse_one(sql, read="helium"))
    return result.fetchall(), plan, stats


def assert_no_rejected_row_reaches_another(asked: list[tuple[str, int, bool | None]]) -> None:
    """Each row is asked of a second filter only after the first one it was asked passed it."""
    first: dict[int, tuple[str, bool | None]] = {}
    for name, row, verdict in asked:
        if row not in first:
            first[row] = (name, verdict)
        else:
            assert first[row][0] != name, f"row {row} asked twice of the {name} filter"
            assert first[row][1] is True, f"row {row}, rejected by {first[row][0]}, reached {name}"


def test_the_plan_orders_the_chain_the_wrong_way(things, shared_engine):
    plan = things(shared_engine).explain(QUERY)
    cheap_id = re.search(r"LlmFilter #(\d+)  llm_filter\('ok\?", plan)[1]
    assert re.search(rf"chain  #{cheap_id} -> #\d", plan)  # cheap first: a guessed 0.5 each


def test_learned_order_sends_fewer_prompts_than_the_static_one(things, shared_engine):
    expected = [(i,) for i in range(1, ROWS + 1) if cheap_passes(i) and expensive_passes(i)]
    static_engine, adaptive_engine = ScriptedEngine(shared_engine, scripted), \
        ScriptedEngine(shared_engine, scripted)
    static_rows, _, _ = run(things(static_engine), static_engine, QUERY, adaptive=False)
    adaptive_rows, plan, stats = run(things(adaptive_engine), adaptive_engine, QUERY, adaptive=True)
    assert static_rows == adaptive_rows == expected
    static_sent, adaptive_sent = len(static_engine.answers), len(adaptive_engine.answers)
    # Static: every row asked the cheap filter, the 90 it keeps the expensive one.
    assert static_sent == ROWS + sum(cheap_passes(i) for i in range(1, ROWS + 1))
    assert adaptive_sent < 0.7 * static_sent
    assert stats.llm_calls == adaptive_sent  # nothing computed on demand
    assert all(s.on_demand_prompts == 0 for s in stats.operators.values())
    assert_no_rejected_row_reaches_another(adaptive_engine.asked())
    # What was learned: the first 16 rows in the plan's order, then expensive first.
    (chain,) = stats.chain_runs
    expensive_id = next(n.id for n in plan.logical.nodes if "step by step" in n.call.text)
    cheap_id = next(n.id for n in plan.nodes if n.id != expensive_id)
    assert chain.orders[0] == ((cheap_id, expensive_id), 16)
    # ... and stays so: the filters are correlated (the rows the expensive one keeps are
    # rejected by the cheap one half the time), which pass rates over every row that reached
    # a filter would mistake for selectivity and flip the order back.
    assert [order for order, _ in chain.orders] == [(cheap_id, expensive_id), (expensive_id, cheap_id)]
    assert sum(rows for _, rows in chain.orders) == ROWS
    # (The cheap filter's rate is measured on the rows the expensive one kept after the switch.)
    assert chain.selectivity(expensive_id) < 0.2
    assert chain.selectivity(cheap_id) > 0.7


def test_explain_analyze_shows_learned_selectivities_and_orders(things, shared_engine):
    engine = ScriptedEngine(shared_engine, scripted)
    con = things(engine)
    text = con.explain(QUERY, analyze=True)
    assert re.search(r"learned  selectivity 0\.\d\d \(\d+ of \d+ rows passed where it ran "
                     r"first, \d+ of \d+ in all\)", text)
    orders = re.search(r"orders  (.*)", text)[1]
    assert orders.startswith("#") and "for 16 rows" in orders and orders.count(" for ") == 2
    # EXPLAIN alone keeps the plan-time estimates.
    plain = con.explain(QUERY)
    assert "learned" not in plain and "selectivity 0.5" in plain


def test_rejected_rows_never_reach_another_filter_on_the_real_model(things, make_engine):
    sql = (f"SELECT id, grp FROM things WHERE llm_filter('{CHEAP}') "
           f"AND NOT llm_filter('Is it rare? {{t}} in group {{grp}}') AND id <= 64 ORDER BY id")
    # A fresh engine: the random tiny model's yes/no logits are near ties, which KV left by
    # earlier tests' prompts can tip.
    real = make_engine()
    engine = ScriptedEngine(real)  # real answers, logged
    rows, plan, stats = run(things(engine), engine, sql, adaptive=True, batch_size=16)
    off = things(real, optimize=False).sql(sql).fetchall()
    assert rows == off
    (chain,) = stats.chain_runs
    assert sum(n for _, n in chain.orders) == 64
    # Per member: rows that reached it, answered once per distinct prompt, and no on-demand work.
    asked = [(("cheap" if "ok?" in t else "rare"), int(re.search(r"item (\d{3})", t)[1]),
              (v if "ok?" in t else (None if v is None else not v))) for t, v in engine.answers]
    assert_no_rejected_row_reaches_another(asked)
    for member, seen in zip(chain.members, chain.seen):
        assert stats.operators[member].engine_requests == stats.operators[member].rows_in == seen
        assert stats.operators[member].on_demand_prompts == 0


def test_static_and_adaptive_agree_with_the_optimizer_off(things, make_engine):
    sql = (f"SELECT id, llm('Say {{t}}', max_tokens => 2) AS s FROM things "
           f"WHERE llm_filter('{EXPENSIVE}') AND id % 4 = 1 AND llm_filter('{CHEAP}') ORDER BY id")
    engine = make_engine()
    off = things(engine, optimize=False).sql(sql).fetchall()
    adaptive, _, _ = run(things(engine), engine, sql, adaptive=True, batch_size=8)
    static, _, _ = run(things(engine), engine, sql, adaptive=False)
    assert adaptive == static == off


def chains_of(con: heliumsql.connection.Connection, sql: str) -> list[tuple[int, ...]]:
    plan = Executor(con.duckdb, lambda: None).plan(sqlglot.parse_one(sql, read="helium"))
    return [chain.members for chain in plan.chains]


@pytest.mark.parametrize("sql, adaptive", [
    (QUERY, True),
    # A member also read in the SELECT list of the same query: only rows that passed reach it.
    ((f"SELECT id, llm_filter('{CHEAP}') AS ok FROM things WHERE llm_filter('{EXPENSIVE}') "
      f"AND llm_filter('{CHEAP}')"), True),
    # A map over the chain's rows reads the members inside a copy of the chain.
    (f"SELECT llm('Why {{t}}') FROM things WHERE llm_filter('{EXPENSIVE}') AND llm_filter('{CHEAP}')",
     True),
    # Read outside the chain (another query's SELECT list): the static chain stays.
    ((f"SELECT id, (SELECT llm_filter('{CHEAP}')) AS ok FROM things "
      f"WHERE llm_filter('{EXPENSIVE}') AND llm_filter('{CHEAP}')"), False),
    # Not a conjunction of filters: no chain at all.
    (f"SELECT id FROM things WHERE llm_filter('{EXPENSIVE}') OR llm_filter('{CHEAP}')", False),
    # A filter under LIMIT streams in input order: the static chain stays.
    (f"SELECT id FROM things WHERE llm_filter('{EXPENSIVE}') AND llm_filter('{CHEAP}') LIMIT 3",
     False),
])
def test_only_sound_chains_run_adaptively(things, shared_engine, sql, adaptive):
    assert bool(chains_of(things(shared_engine), sql)) is adaptive


def test_null_prompts_reject_their_rows_at_no_cost(things, make_engine):
    # A member whose prompt is a column: NULL for every third row (NULL verdict: row rejected).
    sql = (f"SELECT id FROM things WHERE llm_filter(CASE WHEN grp <> 0 THEN t END) "
           f"AND llm_filter('{CHEAP}') AND id <= 48 ORDER BY id")
    engine = make_engine()
    logged = ScriptedEngine(engine)
    rows, plan, stats = run(things(logged), logged, sql, adaptive=True, batch_size=16)
    assert rows == things(engine, optimize=False).sql(sql).fetchall()
    (chain,) = stats.chain_runs
    assert sum(n for _, n in chain.orders) == 48
    assert all(s.on_demand_prompts == 0 for s in stats.operators.values())
    # No request for a NULL prompt; while the column filter ran first, no row with one
    # reached the other filter.
    null_rows = {i for i in range(1, 49) if i % 3 == 0}
    column_member = next(n.id for n in plan.logical.nodes if "CASE" in n.call.text.upper())
    assert stats.operators[column_member].engine_requests <= 48 - len(null_rows)
    assert not any(t.count("item") == 0 for t, _ in logged.answers if "ok?" not in t)
    first_order, first_rows = chain.orders[0]
    if first_order[0] == column_member:
        cheap_asked = {int(re.search(r"item (\d{3})", t)[1]) for t, _ in logged.answers if "ok?" in t}
        assert not (set(range(1, first_rows + 1)) & null_rows & cheap_asked)


def test_a_cancelled_chain_leaves_the_engine_idle_and_the_connection_usable(things, make_engine):
    engine = make_engine()
    con = things(engine)
    calls = 0

    def cancel_on_fifth(_progress: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt

    with pytest.raises(CancelledError):
        con.sql(QUERY, progress=cancel_on_fifth)
    assert_engine_idle(engine)
    assert con.sql("SELECT count(*) FROM things").fetchall() == [(ROWS,)]
