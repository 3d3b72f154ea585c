"""``llm_filter(..., strategy => 'classify')`` in ``JOIN ... ON``: one multi-label question per
left row instead of one yes/no question per pair (the rewrite Snowflake applies to AI_FILTER
joins).

The template must read the right side through exactly one placeholder, ``{p.name}``: its
distinct values among the candidate pairs become the options, and each left row asks once,
"for which of these options is the answer yes?", with the placeholder shown as ``<option>``.
A pair then matches when the left row's answer lists the right row's value. That is a
different question from asking about each pair on its own (the model sees every option at once
and may answer differently), so it is the user's choice, never the optimizer's: prompts drop
from |left| x |right| to |left|, each longer by the option list (which is the same for every
row, so it is a shared, cached prefix). A NULL value is never an option: its pairs never match.

The statement looks each pair up by ``to_json([question, value])`` (the key this module
writes), so the operator (:mod:`heliumsql.operators.llm_join_classify`) can answer any pair
from its left row's answer.

>>> import sqlglot, heliumsql.grammar
>>> from heliumsql.grammar.functions import bind_arguments
>>> call = sqlglot.parse_one("SELECT llm_filter('Is {r.x} about {p.y}?', strategy => 'classify')",
...                          read="helium").expressions[0]
>>> key = pair_key(bind_arguments(call), "p", {"r": ("x",), "p": ("y",)})
>>> key.sql("duckdb")[:60]
"CAST(TO_JSON([CONCAT('Is ', COALESCE(CAST(r.x AS TEXT), ''),"
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlglot import exp

from heliumsql.binder import placeholder_column, render_prompt
from heliumsql.errors import PlanError
from heliumsql.grammar.functions import CallArguments
from heliumsql.grammar.templates import Placeholder, Static, Template
from heliumsql.plan.llm_join import owners

OPTION = "<option>"


def _on_right(p: Placeholder, right: str, columns: dict[str, tuple[str, ...]]) -> bool:
    return owners(placeholder_column(p), list(columns), columns) == {right.lower()}


def pair_key(args: CallArguments, right: str, columns: dict[str, tuple[str, ...]]) -> exp.Expr:
    """The SQL key of a pair: the JSON list [question with ``<option>``, the right value]."""
    template = args.template
    if template is None or args.context:
        raise PlanError("llm_filter(..., strategy => 'classify') needs a template literal with "
                        "no context columns: llm_filter('Is {a.text} about {b.name}?', "
                        "strategy => 'classify')")
    options = [s for s in template.placeholders if _on_right(s, right, columns)]
    if len(options) != 1:
        raise PlanError(f"llm_filter(..., strategy => 'classify') lists the values of one column "
                        f"of {right} as options, so the template must read {right} through "
                        f"exactly one placeholder (it reads {len(options)}); concatenate the "
                        f"columns in a subquery to join on several")
    segments = tuple(Static(OPTION) if s is options[0] else s for s in template.segments)
    question = render_prompt(replace(args, prompt=Template(template.text, segments)))
    value = exp.cast(placeholder_column(options[0]), "VARCHAR")
    key = exp.func("TO_JSON", exp.Array(expressions=[question, value]))
    return exp.cast(key, "VARCHAR")


def split_key(key: str) -> tuple[str, str | None]:
    """(question, right value) of a pair key.

    >>> split_key('["Is it about <option>?", "Drill"]')
    ('Is it about <option>?', 'Drill')
    """
    question, value = json.loads(key)
    return question, value


def instruction(options: list[str]) -> str:
    """The start of every left row's prompt: the task and the options (the same for every row,
    so it is prefilled once)."""
    listing = "\n".join(f"- {o}" for o in options)
    return ("Answer with the JSON list of every option below for which the answer to the "
            f"question is yes (an empty list if there is none). Options:\n{listing}\n\nQuestion: ")


def answer_schema(options: list[str]) -> dict[str, Any]:
    """The JSON schema of an answer: a list of the options (possibly empty)."""
    return {"type": "array", "items": {"enum": options}, "maxItems": len(options)}


def max_answer_tokens(options: list[str]) -> int:
    """Tokens enough for the longest answer (every option once), at a byte per token."""
    return sum(len(json.dumps(o).encode()) + 2 for o in options) + 2
