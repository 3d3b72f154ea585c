"""What each rule buys a user, checked by running queries (tiny model) or by executing the
rewritten plan's SQL in DuckDB, plus invariants every optimized plan must keep."""

from __future__ import annotations

import pytest
import sqlglot
from review_tables import REVIEWS
from optimizer_queries import QUERIES

import heliumsql
from heliumsql.binder import Catalog
from heliumsql.errors import ModelLoadError
from heliumsql.optimizer import RULES, RuleContext, optimize
from heliumsql.optimizer.factor_prompt_prefixes import static_text
from heliumsql.optimizer.rewrite import node_id, udf_calls
from heliumsql.plan.names import dependencies
from heliumsql.planner import build_plan
from heliumsql.prompting import chat_token_ids

MT = 4


def plan_of(con: heliumsql.Connection, sql: str, ctx: RuleContext | None = None,
            rules: tuple = RULES):  # noqa: ANN201
    plan = build_plan(sqlglot.parse_one(sql, read="helium"), Catalog(con.duckdb))
    return optimize(plan, ctx or RuleContext(con.duckdb), rules)


def operators(result: heliumsql.Result) -> dict:
    return result.analyze.operators


# -- prune_llm_columns ---------------------------------------------------------------------------

def test_unused_llm_column_is_not_computed(con, reference):
    sql = (f"WITH t AS (SELECT id, llm('S {{review}}', max_tokens => {MT}) AS s, "
           f"llm('U {{review}}', max_tokens => {MT}) AS u FROM reviews) SELECT id, s FROM t ORDER BY id")
    res = con.sql(sql)
    assert list(operators(res)) == [1]  # only llm('S ...') ran
    reviews = dict(con.sql("SELECT id, review FROM reviews").fetchall())
    assert res.fetchall() == [(i, reference(f"S {reviews[i] or ''}", MT)) for i in sorted(reviews)]
    con.sql("SET helium_optimizer = false")
    assert len(operators(con.sql(sql))) == 2


def test_query_that_never_reads_its_llm_answers_needs_no_model():
    con = heliumsql.connect(model="/never/loaded")
    con.sql(REVIEWS)
    sql = "SELECT count(*) FROM (SELECT id, llm('A {review}') AS a FROM reviews) AS s"
    assert con.sql(sql).fetchall() == [(5,)]
    con.sql("SET helium_optimizer = false")
    with pytest.raises(ModelLoadError):
        con.sql(sql)


# -- push_down_filters ---------------------------------------------------------------------------

def test_outer_predicate_narrows_the_cte_call(con):
    sql = (f"WITH t AS (SELECT id, stars, llm('S {{review}}', max_tokens => {MT}) AS s FROM reviews) "
           "SELECT id, s FROM t WHERE stars > 1 ORDER BY id")
    on = con.sql(sql)
    assert operators(on)[1].rows_in == 3  # stars > 1 ran before the LLM
    con.sql("SET helium_optimizer = false")
    off = con.sql(sql)
    assert operators(off)[1].rows_in == 5
    assert on.fetchall() == off.fetchall()


def test_cheapest_llm_filter_runs_first_and_rejected_rows_never_reach_the_next(con):
    sql = ("SELECT id FROM reviews WHERE llm_filter('Read this review in full and tell me whether "
           "it complains about the product: {review}') AND llm_filter('Toy? {category}')")
    res = con.sql(sql)
    expensive, cheap = operators(res)[1], operators(res)[2]
    toys = con.sql("SELECT count(*) FROM reviews WHERE llm_filter('Toy? {category}')").fetchall()[0][0]
    assert cheap.rows_in == 5 and expensive.rows_in == toys
    chain = plan_of(con, sql).node(1).filter_chain
    assert chain == (2, 1)


# -- push_down_limits ----------------------------------------------------------------------------

def test_limit_over_llm_map_computes_only_kept_rows_unless_optimizer_off(con):
    sql = f"SELECT id, llm('L {{review}}', max_tokens => {MT}) AS l FROM reviews ORDER BY id LIMIT 2"

    def computed(res: heliumsql.Result) -> int:
        (stats,) = operators(res).values()
        return stats.distinct_prompts + stats.on_demand_prompts

    on = con.sql(sql)
    con.sql("SET helium_optimizer = false")
    off = con.sql(sql)
    assert computed(on) == 2 and computed(off) >= 4  # off: every row (4 distinct reviews)
    assert on.fetchall() == off.fetchall()


def test_limit_over_a_cte_reaches_the_calls_inside(con):
    sql = (f"WITH t AS (SELECT id, llm('Label {{review}}', max_tokens => {MT}) AS l FROM reviews) "
           "SELECT id, l FROM t ORDER BY id DESC LIMIT 2")
    on = con.sql(sql)
    (stats,) = operators(on).values()
    assert stats.distinct_prompts + stats.on_demand_prompts == 2
    con.sql("SET helium_optimizer = false")
    assert on.fetchall() == con.sql(sql).fetchall() and [r[0] for r in on.fetchall()] == [5, 4]


def test_limit_over_llm_filter_marks_the_filter_and_orders_its_input(golden_con):
    plan = plan_of(golden_con, "SELECT id FROM reviews WHERE stars < 3 AND "
                               "llm_filter('Complaint? {review}') ORDER BY id DESC LIMIT 2 OFFSET 1")
    (node,) = plan.nodes
    assert node.limit == 3
    ids = [r[1] for r in golden_con.sql(
        node.input.sql("duckdb").replace("AS prompt", "AS prompt, id")).fetchall()]
    assert ids == sorted(ids, reverse=True) and ids  # streamed in the query's order


# -- factor_prompt_prefixes ----------------------------------------------------------------------

def test_static_text_of_prompt_expressions():
    def parsed(sql: str) -> sqlglot.exp.Expr:
        return sqlglot.parse_one(sql, read="duckdb")

    assert static_text(parsed("concat('Hi ', chr(10), coalesce(x, ''))")) == ("Hi \n", True)
    assert static_text(parsed("CAST('Echo: ' || x AS TEXT)")) == ("Echo: ", True)
    assert static_text(parsed("'all static'")) == ("all static", False)


def test_pinned_prefixes_are_token_prefixes_of_every_consumer_prompt(golden_con, tokenizer):
    sql = ("SELECT llm('You are a careful product analyst. Classify this review: {review}') AS a, "
           "llm('You are a careful product analyst. Summarize this review: {review}', "
           "system => 'Be brief.') AS b, llm('You are a careful product analyst. Rate: {review}', "
           "system => 'Be brief.') AS c FROM reviews")
    plan = plan_of(golden_con, sql, RuleContext(golden_con.duckdb, lambda: tokenizer))
    assert plan.prefixes and all(p.token_ids for p in plan.prefixes)
    shared = [p for p in plan.prefixes if len(p.consumers) > 1]
    assert {p.consumers for p in shared} == {(2, 3)}  # the system message differs for #1
    for prefix in plan.prefixes:
        for node in (plan.node(i) for i in prefix.consumers):
            system = node.call.option("system")
            for (prompt,) in golden_con.sql(node.input.sql("duckdb")).fetchall()[:3]:
                ids = chat_token_ids(tokenizer, prompt, system)
                assert tuple(ids[:len(prefix.token_ids)]) == prefix.token_ids


def test_explain_without_a_model_shows_prefixes_as_text():
    con = heliumsql.connect(model="/never/loaded")
    con.sql(REVIEWS)
    text = con.explain("SELECT llm('Is this review positive? {review}') FROM reviews")
    assert "  Prefix  #1  'Is this review positive? '" in text and not con.engine_loaded


# -- the switch and the invariants ---------------------------------------------------------------

@pytest.mark.parametrize("how", ["connect", "set"])
def test_optimizer_switch_turns_every_rule_off(engine, how: str):
    con = heliumsql.connect(engine=engine, optimize=how != "connect")
    con.sql(REVIEWS)
    if how == "set":
        con.sql("SET helium_optimizer = false")
    sql = ("WITH t AS (SELECT id, stars, llm('Is this review positive? {review}') AS s, "
           "llm('x {review}') AS u FROM reviews) SELECT id, s FROM t WHERE stars > 1 LIMIT 2")
    text = con.explain(sql)
    assert text.endswith("Optimizer  off") and "Prefix" not in text and "Llm #2" in text
    con.sql("SET helium_optimizer = true")
    text = con.explain(sql)
    assert "Llm #2" not in text and "prune_llm_columns  pruned #2" in text


@pytest.mark.parametrize("sql", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
def test_every_optimized_plan_is_consistent(golden_con, sql: str) -> None:
    """Every call of a node renders the node's prompt, every input binds in DuckDB, and
    dependencies are exactly what the inputs read."""
    plan = plan_of(golden_con, sql)
    catalog = Catalog(golden_con.duckdb, plan.stand_ins)  # inputs bind with nothing registered
    by_id = {n.id: n for n in plan.nodes}
    for tree in [plan.statement] + [n.input for n in plan.nodes if n.input is not None]:
        for call in udf_calls(tree):
            assert call.expressions == [by_id[node_id(call)].call.prompt]
    for node in plan.nodes:
        assert node.deps == dependencies(node.input)
        assert node.input is None or catalog.columns(node.input) is not None, node.id
        assert node.dedupe_prompts
