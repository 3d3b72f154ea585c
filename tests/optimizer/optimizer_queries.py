"""The queries the optimizer on/off equivalence test runs (``QUERIES``): those of tests/sql
(same tables, ``max_tokens => 4``), queries aimed at each rule, and every statement of the
golden files in tests/fixtures/plans and tests/fixtures/optimizer.

Keep tests/sql and this list in step: a query added there belongs here too.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from heliumsql.grammar.expressions import LlmFunc
from sqlglot import exp

FIXTURES = Path(__file__).parents[1] / "fixtures"
MT = 4

# tests/sql: test_end_to_end.py, test_models_and_sampling.py (queries over REVIEWS).
SQL_TESTS = [
    f"SELECT id, llm('Is this review positive? {{review}}', max_tokens => {MT}) AS label FROM reviews "
    "WHERE stars < 3 ORDER BY id",
    f"SELECT llm('{{review}}', max_tokens => {MT}) FROM reviews WHERE stars < 3",
    f"SELECT llm('Rate it', review, stars AS score, system => 'Be terse', max_tokens => {MT}) "
    "FROM reviews WHERE id = 3",
    f"SELECT llm('{{{{json}}}} {{r.review}}', max_tokens => {MT}) FROM reviews r WHERE id = 3",
    "SELECT id, llm_filter('Is this positive? {review}') AS ok FROM reviews ORDER BY id",
    "SELECT id FROM reviews WHERE llm_filter('Is this positive? {review}')",
    f"SELECT id, llm('Why? {{review}}', max_tokens => {MT}) FROM reviews "
    "WHERE stars < 3 AND llm_filter('Complaint? {review}')",
    "SELECT count(*) FROM reviews WHERE stars < 3 AND llm_filter('Complaint? {review}')",
    f"SELECT id FROM reviews WHERE id < 5 ORDER BY llm('{{review}}', max_tokens => {MT}), id LIMIT 2",
    f"SELECT id, llm('L {{review}}', max_tokens => {MT}) FROM reviews ORDER BY id LIMIT 2",
    "SELECT r.id, c.title FROM reviews r JOIN categories c ON r.category = c.category "
    "AND llm_filter('Does {r.review} fit {c.title}?') ORDER BY r.id",
    "SELECT r.id, llm_filter('Does {r.review} fit {c.title}?') FROM reviews r "
    "JOIN categories c ON r.category = c.category ORDER BY r.id",
    f"SELECT llm('Echo: ' || llm('{{review}}', max_tokens => {MT}), max_tokens => {MT}) "
    "FROM reviews WHERE id = 3",
    f"""WITH a AS (SELECT id, llm('A {{review}}', max_tokens => {MT}) AS x FROM reviews WHERE id < 3),
         b AS (SELECT id, x, llm('B {{x}}', max_tokens => {MT}) AS y,
                      llm('C {{x}}', max_tokens => {MT}) AS z FROM a)
    SELECT * FROM b ORDER BY id""",
    f"SELECT category, llm_agg('Summarize:\n{{review}}', max_tokens => {MT}) AS s FROM reviews "
    "GROUP BY category ORDER BY category",
    f"SELECT * FROM llm_map(TABLE categories, 'Describe {{title}}', as => 'd', n => 3, "
    f"max_tokens => {MT}) ORDER BY category, sample",
    f"SELECT m.id, m.output FROM llm_map((SELECT id, review FROM reviews WHERE id < 3), "
    f"'{{review}}', max_tokens => {MT}) AS m ORDER BY id",
    f"SELECT id, llm('{{review}}', max_tokens => {MT}) AS a, llm('{{review}}', max_tokens => {MT}) AS b "
    "FROM reviews WHERE id IN (SELECT id FROM reviews WHERE llm_filter('ok {review}')) ORDER BY id",
    f"SELECT id, llm('Story about {{category}}', temperature => 1.0, max_tokens => {MT}) AS s "
    "FROM reviews ORDER BY id",
    f"SELECT id, llm('Story about {{category}}', temperature => 1.0, max_tokens => {MT}, seed => 7) "
    "AS s FROM reviews ORDER BY id",
    "SELECT category, llm('Name {category}', max_tokens => 3) AS n FROM reviews "
    "GROUP BY category ORDER BY category",
    "WITH few AS (SELECT id, review FROM reviews WHERE id = 3) "
    "SELECT id, output FROM llm_map(TABLE few, '{review}', max_tokens => 3)",
]

# One or more per rule, where the rule changes the plan.
RULE_TESTS = [
    # prune_llm_columns
    f"WITH t AS (SELECT id, stars, llm('S {{review}}', max_tokens => {MT}) AS s, "
    f"llm('U {{review}}', max_tokens => {MT}) AS u FROM reviews) SELECT id, s FROM t ORDER BY id",
    f"SELECT count(*) AS n FROM (SELECT id, llm('A {{review}}', max_tokens => {MT}) AS a FROM reviews) s",
    # push_down_filters
    f"WITH t AS (SELECT id, stars, llm('S {{review}}', max_tokens => {MT}) AS s FROM reviews) "
    "SELECT id, s FROM t WHERE stars > 1 ORDER BY id",
    f"SELECT * FROM llm_map(TABLE reviews, 'Describe {{review}}', as => 'd', max_tokens => {MT}) "
    "WHERE stars >= 2 ORDER BY id",
    "SELECT id FROM reviews WHERE llm_filter('Does this review, read carefully, complain? {review}') "
    "AND llm_filter('Toy? {category}') ORDER BY id",
    # push_down_filters' chains, run adaptively by the runtime (heliumsql.workflow.adaptive_chain)
    "SELECT id FROM reviews WHERE NOT llm_filter('Does this review, read carefully, complain? {review}') "
    "AND llm_filter('Toy? {category}') AND stars < 5 ORDER BY id",
    "SELECT id, llm_filter('Toy? {category}') AS toy FROM reviews WHERE llm_filter('Toy? {category}') "
    "AND llm_filter('Long and careful question about this review: {review}') ORDER BY id",
    f"WITH t AS (SELECT * FROM reviews WHERE stars < 5) SELECT id, llm('Why {{review}}', max_tokens => {MT}) "
    "AS why FROM t WHERE llm_filter('A? {review}') AND llm_filter('B? {review}') "
    "AND NOT llm_filter('C, a longer question? {category}') ORDER BY id",
    "SELECT category, count(*) AS n FROM reviews WHERE llm_filter('Tool? {category}') "
    "AND llm_filter('Positive, read carefully? {review}') OR stars = 5 GROUP BY category ORDER BY category",
    # push_down_limits
    f"SELECT id, llm('Why {{review}}', max_tokens => {MT}) AS why FROM reviews "
    "WHERE llm_filter('Complaint? {review}') ORDER BY id LIMIT 2",
    f"SELECT id AS rid, llm('Label {{review}}', max_tokens => {MT}) AS l FROM reviews "
    "ORDER BY rid DESC LIMIT 2 OFFSET 1",
    f"WITH t AS (SELECT id, llm('Label {{review}}', max_tokens => {MT}) AS l FROM reviews) "
    "SELECT id, l FROM t ORDER BY id DESC LIMIT 3",
    # eliminate_common_llm_calls
    f"SELECT id, llm('Say {{review}}', max_tokens => {MT}) AS a, "
    f"upper(llm('Say {{review}}', max_tokens => {MT})) AS b FROM reviews ORDER BY id",
    # record-style calls, in the declared field order and reordered (while planning)
    f"SELECT id, llm('Summarize', review, category, max_tokens => {MT}) AS s FROM reviews ORDER BY id",
    f"SELECT id, llm('Summarize', review, category, max_tokens => {MT}, reorder => true) AS s "
    "FROM reviews ORDER BY id",
    "SELECT id FROM reviews WHERE llm_filter('Complaint?', review, category AS kind) ORDER BY id",
    "SELECT id FROM reviews WHERE llm_filter('Complaint?', review, category AS kind, reorder => true) "
    "ORDER BY id",
    # factor_prompt_prefixes
    f"SELECT llm('You are a careful product analyst. Classify: {{review}}', max_tokens => {MT}) AS a, "
    f"llm('You are a careful product analyst. Summarize: {{review}}', max_tokens => {MT}) AS b "
    "FROM reviews ORDER BY id",
]


def golden_statements() -> list[str]:
    out = []
    for path in sorted(FIXTURES.glob("plans/*.sql")) + sorted(FIXTURES.glob("optimizer/*.sql")):
        for block in path.read_text().strip().split("\n\n"):
            out.append(block.partition("\nQuery\n")[0].strip())
    return list(dict.fromkeys(out))


def with_short_answers(sql: str) -> str:
    """``sql`` with ``max_tokens => MT`` on every generating call that does not set it."""
    tree = sqlglot.parse_one(sql, read="helium")
    for call in tree.find_all(LlmFunc):
        if call.function_name == "llm_filter":
            continue
        named = {e.this.name.lower() for e in call.expressions if isinstance(e, exp.Kwarg)}
        typed = "returns" in named or call.function_name in ("llm_classify", "llm_score")
        if "max_tokens" not in named and not typed:  # a typed answer's length has its own bound
            call.append("expressions", exp.Kwarg(this=exp.var("max_tokens"),
                                                  expression=exp.Literal.number(MT)))
    return tree.sql("helium")


QUERIES = list(dict.fromkeys(SQL_TESTS + RULE_TESTS +
                             [with_short_answers(s) for s in golden_statements()]))
