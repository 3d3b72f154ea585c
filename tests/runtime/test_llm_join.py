"""LlmJoin: an LLM predicate in JOIN ... ON is one operator that asks about each distinct
candidate pair once, before the statement runs, in prefix-sharing order; its rows are those of
the on-the-spot evaluation (optimizer off: DuckDB asks the UDF as it meets pairs)."""

from __future__ import annotations

import json
import re

import pytest
from runtime_helpers import RecordingEngine

from heliumsql.engine.request import Completion
from heliumsql.errors import PlanError

# Duplicates on both sides (reviews 1/3 and 2/6, products 10/12), NULL texts and NULL keys.
TABLES = """
CREATE TABLE reviews AS SELECT * FROM (VALUES
  (1, 'great drill, strong motor', 'tools'), (2, 'the doll broke', 'toys'),
  (3, 'great drill, strong motor', 'tools'), (4, NULL, 'tools'), (5, 'meh', NULL),
  (6, 'the doll broke', 'toys')) t(id, review, category);
CREATE TABLE products AS SELECT * FROM (VALUES
  (10, 'Drill', 'tools'), (11, 'Doll', 'toys'), (12, 'Drill', 'tools'), (13, NULL, 'tools'),
  (14, 'Saw', NULL)) t(pid, name, category);
"""
# The tiny random model says yes to 12 of the 30 pairs of this question.
ABOUT = "llm_filter('Does \"{r.review}\" mention {p.name}?')"
CORPUS = {
    "inner": f"SELECT r.id, p.pid FROM reviews r JOIN products p ON {ABOUT}",
    "conjunct": f"SELECT r.id, p.pid FROM reviews r JOIN products p ON r.category = p.category "
                f"AND {ABOUT}",
    "left": f"SELECT r.id, p.pid, p.name FROM reviews r LEFT JOIN products p "
            f"ON r.category = p.category AND {ABOUT}",
    "left_where": f"SELECT r.id, p.pid FROM reviews r LEFT JOIN products p ON {ABOUT} "
                  "WHERE p.pid IS NULL OR r.id > 2",
    "where": f"SELECT r.id, p.name FROM reviews r JOIN products p ON {ABOUT} WHERE p.pid > 10",
    "full": f"SELECT r.id, p.pid FROM reviews r FULL JOIN products p ON r.category = p.category "
            f"AND {ABOUT}",
    "self": "SELECT a.id, b.id FROM reviews a JOIN reviews b ON a.id < b.id "
            "AND llm_filter('Does \"{a.review}\" mention \"{b.review}\"?')",
    "scalar": "SELECT r.id, p.pid FROM reviews r JOIN products p ON r.category = p.category "
              "AND llm('Product of {r.review}? {p.name}', max_tokens => 2) < 'b'",
    "three_way": f"SELECT r.id, p.pid, q.name FROM reviews r JOIN products p ON {ABOUT} "
                 "JOIN products q ON q.pid = p.pid + 1 WHERE q.name IS NOT NULL AND r.id > 1",
    "two_calls": f"SELECT r.id, p.pid FROM reviews r JOIN products p ON {ABOUT} AND "
                 "llm_filter('Would {p.name} fix \"{r.review}\"?')",
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_llm_join_gives_the_rows_of_the_on_the_spot_evaluation(shared_engine, connect, name):
    query = CORPUS[name]
    on = connect(shared_engine, setup=TABLES).sql(query)
    off = connect(shared_engine, setup=TABLES, optimize=False).sql(query).fetchall()
    assert sorted(on.fetchall(), key=repr) == sorted(off, key=repr)
    figures = on.analyze.operators.values()
    assert all(s.operator.startswith("LlmJoin") for s in figures)
    assert sum(s.on_demand_prompts for s in figures) == 0  # every pair was ready in time


def _expected_pairs(con, where: str = "TRUE") -> set[tuple[str, str]]:
    return set(con.duckdb.sql(f"SELECT coalesce(r.review, ''), coalesce(p.name, '') FROM "
                              f"reviews r, products p WHERE {where}").fetchall())


def _sent(engine: RecordingEngine) -> list[str]:
    tokenizer = engine.tokenizer
    return [tokenizer.decode(list(p)) for call in engine.calls for p in call]


def test_exactly_the_distinct_candidate_pairs_are_sent(make_engine, connect):
    engine = RecordingEngine(make_engine())
    con = connect(engine, setup=TABLES)
    res = con.sql(CORPUS["conjunct"])
    pairs = _expected_pairs(con, "r.category = p.category")
    sent = _sent(engine)
    assert len(sent) == len(set(sent)) == len(pairs) == 5
    asked = {tuple(re.search(r'Does "(.*)" mention (.*)\?', s).groups()) for s in sent}
    assert asked == pairs
    (stats,) = res.analyze.operators.values()
    assert stats.pairs_considered == 30 and stats.rows_in == 11
    assert stats.distinct_prompts == stats.engine_requests == 5


def test_explain_analyze_reports_pairs_considered_pruned_and_sent(make_engine, connect):
    text = connect(make_engine(), setup=TABLES).sql(
        f"EXPLAIN ANALYZE {CORPUS['conjunct']}").fetchall()[0][0]
    (line,) = [s.strip() for s in text.splitlines() if s.strip().startswith("pairs")]
    assert line == ("pairs  considered=30 pruned_by_conjuncts=19 pruned_as_duplicates=6 "
                    "prompts_sent=5")
    assert "LlmJoin #1" in text and "strategy  llm_join: nested loop, prefix-shared" in text


def test_prefix_shared_order_gives_prefill_efficiency_near_one(make_engine, connect):
    # 20 long reviews x 20 short product names: each review's text is a prefix of its 20 pairs.
    long_text = "the motor hums and the handle feels solid. " * 6
    reviews = ", ".join(f"({i}, 'Review {i}: {long_text}')" for i in range(20))
    products = ", ".join(f"({i}, 'P{i}')" for i in range(20))
    setup = (f"CREATE TABLE reviews AS SELECT * FROM (VALUES {reviews}) t(id, review); "
             f"CREATE TABLE products AS SELECT * FROM (VALUES {products}) t(pid, name)")
    engine = RecordingEngine(make_engine())
    stats = connect(engine, setup=setup).sql(
        "SELECT r.id, p.pid FROM reviews r JOIN products p ON "
        "llm_filter('Review: {r.review} Is it about {p.name}?')").analyze
    sent = _sent(engine)
    assert stats.engine_requests == 400 and len(set(sent)) == 400
    # Depth-first order: the 20 pairs of one review go out together, one review after another.
    order = [re.search(r"Review (\d+):", s)[1] for s in sent]
    assert sum(a != b for a, b in zip(order, order[1:])) == 19
    # Default block size: the pinned template start ends in a partial block (0.975 here).
    assert stats.prefill_efficiency >= 0.95


class ScriptedClassifier:
    """The base engine contract, answering a classification prompt with the options its
    question mentions (case-insensitive) and anything else through a real engine."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self._engine = engine
        self.tokenizer, self.max_context = engine.tokenizer, engine.max_context
        self.fingerprint = engine.fingerprint
        self.prompts: list[str] = []

    def _answer(self, index: int, ids: list[int], params) -> Completion:  # noqa: ANN001
        text = self.tokenizer.decode(list(ids))
        self.prompts.append(text)
        options = json.loads(params.json_schema)["items"]["enum"]
        question = text.rsplit("Question: ", 1)[1].lower()
        listed = json.dumps([o for o in options if o.lower() in question])
        return Completion(index, listed, (), len(ids))

    def generate(self, prompts, params) -> list[Completion]:  # noqa: ANN001
        params = params if isinstance(params, list) else [params] * len(prompts)
        return [self._answer(i, p, s) if s.json_schema else self._engine.generate([p], s)[0]
                for i, (p, s) in enumerate(zip(prompts, params))]

    def stream(self, prompts, params):  # noqa: ANN001, ANN201
        return iter(self.generate(prompts, params))

    def cancel(self, stream) -> None:  # noqa: ANN001
        pass

    def stats(self) -> dict[str, int]:
        return {}


CLASSIFY = ("SELECT r.id, p.pid FROM reviews r {join} products p ON {on}"
            "llm_filter('Does \"{{r.review}}\" mention {{p.name}}?', strategy => 'classify')")


@pytest.mark.parametrize(("join", "on"), [("JOIN", ""), ("LEFT JOIN", ""),
                                          ("JOIN", "r.category = p.category AND ")])
def test_classify_strategy_asks_once_per_left_row_and_matches_listed_values(
        shared_engine, connect, join, on):
    backend = ScriptedClassifier(shared_engine)
    con = connect(backend, setup=TABLES)
    query = CLASSIFY.format(join=join, on=on)
    res = con.sql(query)
    expected = con.duckdb.sql(query.replace(
        "llm_filter('Does \"{r.review}\" mention {p.name}?', strategy => 'classify')",
        "contains(lower(r.review), lower(p.name))")).fetchall()
    assert sorted(res.fetchall(), key=repr) == sorted(expected, key=repr)
    assert any(pid is not None for _, pid in expected)  # some pairs match
    # One prompt per distinct review text (NULL renders as ''), each listing every product name.
    reviews = {t for (t,) in con.duckdb.sql("SELECT DISTINCT coalesce(review, '') FROM reviews "
                                            + ("WHERE category IS NOT NULL" if on else ""))
               .fetchall()}
    assert len(backend.prompts) == len(set(backend.prompts)) == len(reviews)
    assert all("- Doll\n- Drill\n" in p for p in backend.prompts)
    (stats,) = res.analyze.operators.values()
    assert stats.engine_requests == len(reviews) and stats.on_demand_prompts == 0
    # The same rows with the optimizer off: the strategy is the user's question, not a rewrite.
    off = connect(ScriptedClassifier(shared_engine), setup=TABLES, optimize=False)
    assert sorted(off.sql(query).fetchall(), key=repr) == sorted(expected, key=repr)


def test_classify_strategy_is_explained_and_only_allowed_in_a_join():
    import heliumsql

    con = heliumsql.connect(model="/never/loaded", result_cache=None)
    con.sql(TABLES)
    text = con.explain(CLASSIFY.format(join="JOIN", on=""))
    assert "strategy  llm_join: classify: inner join of r and p, one multi-label prompt" in text
    with pytest.raises(PlanError, match="applies to a call in the ON clause"):
        con.explain("SELECT id FROM reviews WHERE llm_filter('{review}', strategy => 'classify')")
    with pytest.raises(PlanError, match="exactly one placeholder"):
        con.explain("SELECT r.id FROM reviews r JOIN products p ON "
                    "llm_filter('{r.review} {p.name} {p.category}', strategy => 'classify')")
    con.close()
