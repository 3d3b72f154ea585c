"""The typed forms of a call: ``returns => 'TYPE'``, ``llm_classify`` and ``llm_score``.

Each becomes options of the call (``returns``; ``labels`` and ``multi``; ``low`` and ``high``),
so the answer's type is part of the call's identity (deduplication, result cache, seeds), and a
format instruction that is placed *before* the user's template: it is the same text for every
row, so it joins the static prompt prefix that is prefilled once and shared.

>>> import sqlglot, heliumsql.grammar
>>> from heliumsql.grammar.functions import bind_arguments
>>> call = sqlglot.parse_one("SELECT llm_classify('Ticket: {t}', ['bug', 'feature'])", read="helium")
>>> args = bind_arguments(call.expressions[0])
>>> args.option("labels"), args.returns
(('bug', 'feature'), 'VARCHAR')
>>> args.template.static_prefix.startswith("Classify")
True
"""

from __future__ import annotations

import json
from typing import Any

from sqlglot import exp

from heliumsql.errors import BindError
from heliumsql.output_types import json_schema, parse_output_type

# With a typed answer and no max_tokens given, room for a few fields of text (see
# heliumsql.output_types: every string's length is bounded by this budget).
TYPED_MAX_TOKENS = 256
_SCORE_LIMIT = 10**9


def _string(function: str, what: str, value: exp.Expr) -> str:
    if isinstance(value, exp.Literal) and value.is_string:
        return value.this
    if isinstance(value, exp.Identifier):
        return value.name
    raise BindError(f"{function}(): {what} must be a string literal, not {value.sql('duckdb')}")


def classify_labels(value: exp.Expr) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The labels (and their descriptions, if given) of ``llm_classify``'s second argument:
    a list literal ``['a', 'b']``, a struct ``{'a': 'what a means', ...}`` or a ``MAP {...}``."""
    where = "llm_classify(): labels"
    if isinstance(value, exp.ToMap):
        value = value.this
    if isinstance(value, exp.Array):
        labels = tuple(_string("llm_classify", "each label", v) for v in value.expressions)
        descriptions = None
    elif isinstance(value, exp.Struct) and all(isinstance(p, exp.PropertyEQ) for p in value.expressions):
        labels = tuple(_string("llm_classify", "each label", p.this) for p in value.expressions)
        descriptions = tuple(_string("llm_classify", "each description", p.expression)
                             for p in value.expressions)
    else:
        raise BindError(f"{where} must be a list literal (['bug', 'feature']) or a struct or map "
                        f"of label -> description ({{'bug': 'a defect', ...}}), not "
                        f"{value.sql('duckdb')}")
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
        raise BindError(f"{where} must be at least two distinct, non-empty labels; got {list(labels)}")
    return labels, descriptions


def score_bound(name: str, value: exp.Expr) -> int:
    negative = isinstance(value, exp.Neg)
    literal = value.this if negative else value
    if not (isinstance(literal, exp.Literal) and not literal.is_string and literal.this.isdigit()):
        raise BindError(f"llm_score(): {name} must be an integer literal, not {value.sql('duckdb')}")
    number = -int(literal.this) if negative else int(literal.this)
    if abs(number) > _SCORE_LIMIT:
        raise BindError(f"llm_score(): {name} must be between -{_SCORE_LIMIT} and {_SCORE_LIMIT}")
    return number


def instruction(options: dict[str, Any]) -> str:
    """The static format instruction of a typed call ('' for an untyped one)."""
    if "labels" in options:
        labels, descriptions = options["labels"], options.get("descriptions")
        if descriptions:
            listing = "\n".join(f"- {label}: {d}" for label, d in zip(labels, descriptions))
        else:
            listing = "\n".join(f"- {label}" for label in labels)
        how = ("one or more of these labels, as a JSON list" if options.get("multi")
               else "exactly one of these labels, as a JSON string")
        return f"Classify the text below. Answer with {how}:\n{listing}\n\n"
    if "low" in options:
        return (f"Score the text below with a whole number from {options['low']} to "
                f"{options['high']}. Answer with the number only.\n\n")
    returns = options.get("returns")
    if returns is not None and parse_output_type(returns).constrained:
        return f"Answer with JSON of the SQL type {returns}.\n\n"
    return ""


def answer_schema(options: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a typed call's answer is decoded under; None for free text."""
    if "labels" in options:
        enum = {"enum": list(options["labels"])}
        if options.get("multi"):
            return {"type": "array", "items": enum, "minItems": 1,
                    "maxItems": len(options["labels"])}
        return enum
    if "low" in options:
        return {"type": "integer", "minimum": options["low"], "maximum": options["high"]}
    returns = options.get("returns")
    if returns is None:
        return None
    t = parse_output_type(returns)
    return json_schema(t, options["max_tokens"]) if t.constrained else None


def canonical_schema(schema: Any) -> str:
    """The one text of a JSON schema the engine is given (sorted keys): the SQL operators, the
    DuckDB UDFs and ``heliumsql serve`` agree on it, so the grammar, and with it a greedy
    answer, is the same whichever way a typed call arrives."""
    return json.dumps(schema, sort_keys=True)


def schema_text(options: dict[str, Any]) -> str | None:
    """The JSON schema text a typed call is decoded under; None for free text."""
    schema = answer_schema(options)
    return None if schema is None else canonical_schema(schema)


def check_budget(options: dict[str, Any]) -> None:
    """BindError up front when ``max_tokens`` cannot hold the longest answer the schema admits
    (for ``returns`` the schema itself shrinks to fit; labels and scores have fixed lengths)."""
    if options.get("stop") and answer_schema(options) is not None:
        raise BindError("stop => is not allowed on a typed call: its answer ends where its JSON "
                        "value ends")
    if "labels" not in options and "low" not in options:
        return
    if "labels" in options:
        longest = sum(len(json.dumps(label).encode()) + 1 for label in options["labels"]) + 1
        if not options.get("multi"):
            longest = max(len(json.dumps(label).encode()) for label in options["labels"])
    else:
        longest = max(len(str(options["low"])), len(str(options["high"])))
    if longest + 1 > options["max_tokens"]:
        raise BindError(f"max_tokens => {options['max_tokens']} is too small for every answer of "
                        f"this call: give max_tokens => {longest + 1} or more")
