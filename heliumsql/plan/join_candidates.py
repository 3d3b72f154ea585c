"""``llm_filter(..., strategy => 'candidates', k => N)`` in ``JOIN ... ON``: ask the model only
about the N right rows most similar to each left row; every other pair is not a match.

Approximate, so the user's choice, never the optimizer's: a true match ranked below the N
most similar rows is lost. What "similar" means: each side's *text* is the values of the
template placeholders that read that side, in template order, NULL as the empty string,
joined by `` | `` (``'Does {r.review} mention {p.name}?'``: the left text is the review, the
right text the product name; context columns play no part). Both texts are embedded by the
connection's embedding model (``connect(embedding_model=PATH)``; otherwise the mean-pooled
LLM, which is weak: see :mod:`heliumsql.embedding_model`), each distinct text once and
result-cached, and ranked by cosine. Ranking is per distinct left text over the distinct right
texts of its candidate pairs (the pairs the relational conjuncts kept), ties broken by the
right text, an empty text last; a pair is kept when its right text is among its left text's
top N. So with N at least the number of distinct right texts every pair is kept, and the rows
are the exact strategy's.

The statement evaluates the call as usual: a pair asked answers from its prompt, any other
pair is not a match (a pair whose prompt equals an asked pair's gets that answer: the model
would have answered the same prompt the same way).

>>> import sqlglot, heliumsql.grammar
>>> from heliumsql.grammar.functions import bind_arguments
>>> call = sqlglot.parse_one("SELECT llm_filter('Is {r.x} about {p.y}?', strategy => "
...                          "'candidates', k => 3)", read="helium").expressions[0]
>>> left, right = side_texts(bind_arguments(call), ("r",), "p", {"r": ("x",), "p": ("y",)})
>>> right.sql("duckdb")
"CONCAT(COALESCE(CAST(p.y AS TEXT), ''))"
"""

from __future__ import annotations

from sqlglot import exp

from heliumsql.binder import placeholder_column, text_of
from heliumsql.errors import PlanError
from heliumsql.grammar.functions import CallArguments
from heliumsql.plan.llm_join import owners

LEFT_TEXT, RIGHT_TEXT = "left_text", "right_text"
SEPARATOR = " | "
USAGE = "llm_filter('Is {a.x} about {b.y}?', strategy => 'candidates', k => 5)"


def side_texts(args: CallArguments, left: tuple[str, ...], right: str,
               columns: dict[str, tuple[str, ...]]) -> tuple[exp.Expr, exp.Expr]:
    """The SQL of the left and the right row's text (what is embedded and ranked)."""
    template = args.template
    if template is None:
        raise PlanError("llm_filter(..., strategy => 'candidates') ranks pairs by the values "
                        f"its template placeholders read, so it needs a template literal: {USAGE}")
    lefts, rights = {a.lower() for a in left}, right.lower()
    sides: tuple[list[exp.Expr], list[exp.Expr]] = ([], [])
    for p in template.placeholders:
        found = owners(placeholder_column(p), list(columns), columns)
        if found == {rights}:
            sides[1].append(text_of(placeholder_column(p)))
        elif found and found <= lefts:
            sides[0].append(text_of(placeholder_column(p)))
        else:
            raise PlanError(f"llm_filter(..., strategy => 'candidates'): placeholder {{{p.name}}} "
                            f"must name one side of the join; qualify it ({{{right}.column}})")
    if not sides[0] or not sides[1]:
        raise PlanError("llm_filter(..., strategy => 'candidates') ranks each left row's right "
                        "rows by the similarity of their texts, so the template must read both "
                        f"sides ({', '.join(left)} and {right}): {USAGE}")
    return _joined(sides[0]), _joined(sides[1])


def _joined(values: list[exp.Expr]) -> exp.Expr:
    """``CONCAT(v1, ' | ', v2, ...)`` (the values are never NULL)."""
    parts = [values[0]]
    for value in values[1:]:
        parts += [exp.Literal.string(SEPARATOR), value]
    return exp.Concat(expressions=parts, safe=True, coalesce=True)


def with_texts(fragment: exp.Select, args: CallArguments, left: tuple[str, ...], right: str,
               columns: dict[str, tuple[str, ...]]) -> exp.Select:
    """The candidate-pairs input with each pair's left and right text after its prompt."""
    left_text, right_text = side_texts(args, left, right, columns)
    fragment.set("expressions", fragment.expressions + [exp.alias_(left_text, LEFT_TEXT),
                                                        exp.alias_(right_text, RIGHT_TEXT)])
    return fragment
