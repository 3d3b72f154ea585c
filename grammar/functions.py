"""The catalog of LLM functions: what each takes, its defaults, and the checks on a call.

``max_tokens`` defaults to 64: enough for a label or a sentence, small enough that a forgotten
limit does not stall a query; a typed call (``returns =>``, ``llm_classify``, ``llm_score``)
defaults to 256, since its strings' length bound comes out of that budget. ``temperature`` defaults to 0 (greedy), so results are repeatable.

>>> import sqlglot, heliumsql.grammar
>>> call = sqlglot.parse_one("SELECT llm('Hi {name}', max_tokens => 8)", read="helium").expressions[0]
>>> args = bind_arguments(call)
>>> args.template.columns, args.option("max_tokens"), args.option("temperature")
(('name',), 8, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from heliumsql.errors import BindError
from heliumsql.grammar.expressions import LlmFunc, TableArg
from heliumsql.grammar.templates import Template, parse_template
from heliumsql.grammar.typed_calls import (TYPED_MAX_TOKENS, answer_schema, check_budget,
                                           classify_labels, instruction, score_bound)
from heliumsql.output_types import parse_output_type


@dataclass(frozen=True)
class ArgSpec:
    """A named argument: ``type`` is int, float, str, str_list or bool; ``choices`` limits a str;
    a number lies in [``minimum``, ``maximum``], or (``minimum``, ``maximum``] with ``open_minimum``."""

    name: str
    type: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    open_minimum: bool = False

    def allowed(self) -> str:
        """The allowed range as text, e.g. ``(0, 1]`` or ``1 to 1024``."""
        low = "-inf" if self.minimum is None else _number(self.minimum)
        high = "inf" if self.maximum is None else _number(self.maximum)
        return f"({low}, {high}]" if self.open_minimum else f"{low} to {high}"


@dataclass(frozen=True)
class FunctionSpec:
    """One LLM function: ``kind`` is scalar, filter, aggregate or table; ``returns`` its SQL type;
    ``args`` the generation options (part of a call's identity and its sampling seed);
    ``planning`` the named arguments that only shape the plan."""

    name: str
    kind: str
    returns: str
    args: tuple[ArgSpec, ...]
    planning: tuple[ArgSpec, ...] = ()

    def arg(self, name: str) -> ArgSpec | None:
        return next((a for a in self.args + self.planning if a.name == name), None)


_MODEL = ArgSpec("model", "str")
_SYSTEM = ArgSpec("system", "str")
_ON_ERROR = ArgSpec("on_error", "str", "raise", choices=("raise", "null"))
# ``reorder => true`` lets the planner put a record-style call's fields in the order that
# shares the most prompt prefix; it changes the prompt, so it is the user's choice, never the
# optimizer's (see heliumsql/field_order.py). Row-wise calls only: llm() and llm_filter().
REORDER = "reorder"
_REORDER = ArgSpec(REORDER, "bool", False)
# ``strategy => 'classify'`` asks an llm_filter in JOIN ... ON one multi-label question per
# row of the left side instead of one yes/no per pair: a different question, so the user's
# choice (see heliumsql/plan/llm_join.py). The default asks about every candidate pair.
# ``strategy => 'candidates', k => N`` asks only about the N right rows most similar to each
# left row by embedding cosine (approximate: see heliumsql/plan/join_candidates.py).
STRATEGY = "strategy"
JOIN_STRATEGIES = ("nested_loop", "classify", "candidates")  # the default first
_STRATEGY = ArgSpec(STRATEGY, "str", JOIN_STRATEGIES[0], choices=JOIN_STRATEGIES)
CANDIDATES_K = "k"
# Bounds are checked at bind time, before a model loads: an out-of-range value would otherwise
# fail deep in the engine (top_p => 0) or exhaust memory (n => 99999999999). MAX_TOKENS bounds
# any model's context; the engine checks the real context when the prompt is known.
MAX_TOKENS = 1 << 20
MAX_SAMPLES = 1024
_INT64 = 1 << 63
_GENERATION = (
    _MODEL, ArgSpec("max_tokens", "int", 64, minimum=1, maximum=MAX_TOKENS),
    ArgSpec("temperature", "float", 0.0, minimum=0, maximum=100),
    ArgSpec("top_p", "float", 1.0, minimum=0, maximum=1, open_minimum=True),
    ArgSpec("top_k", "int", 0, minimum=0, maximum=MAX_TOKENS),
    ArgSpec("stop", "str_list", ()), ArgSpec("seed", "int", minimum=-_INT64, maximum=_INT64 - 1),
    _SYSTEM, _ON_ERROR,
)

# llm_search: ``method => 'exact'`` (DuckDB brute force), ``'index'`` (an approximate index),
# ``'auto'`` (exact below a row count measured in benchmarks/search.py); k bounded so a typo
# cannot ask for a billion rows.
SEARCH_METHODS = ("auto", "exact", "index")
MAX_K = 100_000
_CANDIDATES_K = ArgSpec(CANDIDATES_K, "int", None, minimum=1, maximum=MAX_K)

# ``returns => 'TYPE'``: the answer's DuckDB type (see heliumsql.output_types).
_RETURNS = ArgSpec("returns", "str")
_MULTI = ArgSpec("multi", "bool", False)

FUNCTIONS: dict[str, FunctionSpec] = {
    "llm": FunctionSpec("llm", "scalar", "VARCHAR", _GENERATION + (_RETURNS,), (_REORDER,)),
    "llm_classify": FunctionSpec("llm_classify", "scalar", "VARCHAR", _GENERATION + (_MULTI,)),
    "llm_score": FunctionSpec("llm_score", "scalar", "INTEGER", _GENERATION),
    "llm_filter": FunctionSpec("llm_filter", "filter", "BOOLEAN", (_MODEL, _SYSTEM, _ON_ERROR),
                              (_REORDER, _STRATEGY, _CANDIDATES_K)),
    "llm_agg": FunctionSpec("llm_agg", "aggregate", "VARCHAR", _GENERATION),
    # The vector type FLOAT[d] is known once the embedding model is (the planner asks it).
    "llm_embed": FunctionSpec("llm_embed", "embed", "FLOAT[]", (_MODEL,)),
    "llm_search": FunctionSpec("llm_search", "search", "TABLE", (
        _MODEL, ArgSpec("column", "str"), ArgSpec("k", "int", 10, minimum=1, maximum=MAX_K),
        ArgSpec("method", "str", "auto", choices=SEARCH_METHODS))),
    "llm_map": FunctionSpec("llm_map", "table", "TABLE", _GENERATION + (
        _RETURNS, ArgSpec("as", "str", "output"), ArgSpec("n", "int", 1, minimum=1, maximum=MAX_SAMPLES))),
}


@dataclass(frozen=True)
class CallArguments:
    """A call's arguments, checked: the prompt (a Template, or any VARCHAR expression), the
    context columns as (name, expression), every option with defaults filled in, and for
    ``llm_map`` the input relation (``TableArg`` or ``exp.Subquery``)."""

    function: FunctionSpec
    prompt: Template | exp.Expr
    context: tuple[tuple[str, exp.Expr], ...]
    options: tuple[tuple[str, Any], ...]
    source: exp.Expr | None = None
    reorder: bool = False  # a planning argument (FunctionSpec.planning), not in ``options``
    strategy: str = JOIN_STRATEGIES[0]  # likewise
    k: int | None = None  # likewise: strategy => 'candidates' only

    @property
    def template(self) -> Template | None:
        return self.prompt if isinstance(self.prompt, Template) else None

    def option(self, name: str) -> Any:
        return dict(self.options)[name]

    @property
    def returns(self) -> str:
        """The DuckDB type of each answer (``returns =>``, or the function's own type)."""
        return dict(self.options).get("returns") or self.function.returns


def _literal(spec: FunctionSpec, arg: ArgSpec, value: exp.Expr) -> Any:
    where = f"{spec.name}(): argument {arg.name} => {value.sql('duckdb')}"
    negative = isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal)
    literal = value.this if negative else value
    if arg.type == "str_list" and isinstance(value, exp.Array):
        return tuple(_literal(spec, ArgSpec(arg.name, "str"), v) for v in value.expressions)
    if arg.type == "bool":
        if not isinstance(value, exp.Boolean):
            raise BindError(f"{where} must be {_TYPE_WORDS[arg.type]}")
        return bool(value.this)
    if not isinstance(literal, exp.Literal):
        raise BindError(f"{where} must be a literal {_TYPE_WORDS[arg.type]}, not an expression")
    if arg.type in ("str", "str_list"):
        if not literal.is_string:
            raise BindError(f"{where} must be a literal {_TYPE_WORDS[arg.type]}")
        if arg.choices and literal.this not in arg.choices:
            raise BindError(f"{where} must be one of {', '.join(repr(c) for c in arg.choices)}")
        return (literal.this,) if arg.type == "str_list" else literal.this
    if literal.is_string:
        raise BindError(f"{where} must be a literal {_TYPE_WORDS[arg.type]}, not a string")
    try:
        number = int(literal.this) if arg.type == "int" else float(literal.this)
    except ValueError:
        raise BindError(f"{where} must be a literal {_TYPE_WORDS[arg.type]}") from None
    number = -number if negative else number
    if number != number:  # NaN compares false with every bound
        raise BindError(f"{where} must be a number in {arg.allowed()}")
    if arg.minimum is not None and (number <= arg.minimum if arg.open_minimum else number < arg.minimum):
        word = "greater than" if arg.open_minimum else "at least"
        raise BindError(f"{where} must be {word} {_number(arg.minimum)} (allowed: {arg.allowed()})")
    if arg.maximum is not None and number > arg.maximum:
        raise BindError(f"{where} must be at most {_number(arg.maximum)} (allowed: {arg.allowed()})")
    return number


_TYPE_WORDS = {"int": "integer", "float": "number", "str": "string",
               "str_list": "string or list of strings", "bool": "boolean (true or false)"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def context_name(value: exp.Expr) -> str:
    """The label of a context column: its alias, its column name, or its SQL text."""
    if isinstance(value, exp.Alias):
        return value.alias
    if isinstance(value, exp.Column):
        return value.name
    return value.sql("duckdb")


def bind_arguments(call: LlmFunc) -> CallArguments:
    """Check a call against the catalog and split its arguments.

    Raises BindError naming the function and argument for an unknown or repeated named
    argument, a non-literal or mistyped option, or a missing prompt.
    """
    spec = FUNCTIONS[call.function_name]
    positional: list[exp.Expr] = []
    given: dict[str, Any] = {}
    for value in call.expressions:
        if isinstance(value, exp.Kwarg):
            name = value.this.name.lower()
            arg = spec.arg(name)
            if arg is None:
                allowed = ", ".join(a.name for a in spec.args + spec.planning)
                raise BindError(f"{spec.name}() has no argument named {name!r}; it takes {allowed}")
            if name in given:
                raise BindError(f"{spec.name}(): argument {name} is given twice")
            given[name] = _literal(spec, arg, value.expression)
        else:
            positional.append(value)
    source = None
    if spec.kind in ("table", "search"):
        if not positional or not isinstance(positional[0], (TableArg, exp.Subquery)):
            raise BindError(f"{spec.name}() takes the input relation first: {spec.name}(TABLE t, "
                            f"'...') or {spec.name}((SELECT ...), '...')")
        source = positional.pop(0)
    if spec.kind == "search":
        return _search_arguments(spec, positional, given, source)
    if not positional:
        raise BindError(f"{spec.name}() needs a prompt: {spec.name}('... {{column}} ...')")
    first, rest = positional[0], positional[1:]
    for value in positional:
        if isinstance(value, TableArg):
            raise BindError(f"{spec.name}(): TABLE {value.this.sql('duckdb')} is only allowed as "
                            "the first argument of llm_map or llm_search")
    typed = _typed_options(spec, rest, given)
    if typed and "max_tokens" not in given:
        given["max_tokens"] = TYPED_MAX_TOKENS
    options = dict((a.name, given.get(a.name, a.default)) for a in spec.args)
    options.update(typed)
    if options.get("returns") is None:
        # Untyped calls keep their options (and so their identity and sampling seeds) as before.
        options.pop("returns", None)
    check_budget(options)
    if options.get("returns") is not None:
        options["returns"] = parse_output_type(options["returns"]).sql  # DuckDB's spelling
        answer_schema(options)  # BindError now when max_tokens cannot hold any answer
    head = instruction(options)  # static, so it goes before the row's data: a shared prefix
    prompt: Template | exp.Expr
    if isinstance(first, exp.Literal) and first.is_string:
        prompt = parse_template(head.replace("{", "{{").replace("}", "}}") + first.this)
    else:
        prompt = exp.DPipe(this=exp.Literal.string(head), expression=first) if head else first
    context = tuple((context_name(v), v.this if isinstance(v, exp.Alias) else v) for v in rest)
    strategy = given.get(STRATEGY, JOIN_STRATEGIES[0])
    _check_candidates(spec, strategy, given.get(CANDIDATES_K))
    return CallArguments(spec, prompt, context, tuple(options.items()), source,
                         given.get(REORDER, False), strategy, given.get(CANDIDATES_K))


def _check_candidates(spec: FunctionSpec, strategy: str, k: int | None) -> None:
    """``k =>`` comes with ``strategy => 'candidates'`` and only with it."""
    usage = f"{spec.name}('... {{a.x}} ... {{b.y}} ...', strategy => 'candidates', k => 5)"
    if strategy == "candidates" and k is None:
        raise BindError(f"{spec.name}(): strategy => 'candidates' needs k => N, the number of "
                        f"right rows judged per left row: {usage}")
    if strategy != "candidates" and k is not None:
        raise BindError(f"{spec.name}(): k => {k} only applies with strategy => 'candidates' "
                        f"(the k most similar right rows per left row): {usage}")


def _search_arguments(spec: FunctionSpec, positional: list[exp.Expr], given: dict[str, Any],
                      source: exp.Expr) -> CallArguments:
    """llm_search's arguments: one literal query text, ``column =>`` the vector column."""
    usage = "llm_search(TABLE docs, 'query text', column => 'v', k => 10)"
    if len(positional) != 1 or not (isinstance(positional[0], exp.Literal)
                                    and positional[0].is_string):
        raise BindError(f"llm_search() takes one query text, as a string literal: {usage}")
    if given.get("column") is None:
        raise BindError(f"llm_search() needs the vector column: {usage}")
    options = tuple((a.name, given.get(a.name, a.default)) for a in spec.args)
    return CallArguments(spec, positional[0], (), options, source)


def _typed_options(spec: FunctionSpec, rest: list[exp.Expr], given: dict[str, Any]
                   ) -> dict[str, Any]:
    """The options a typed call adds (and takes its positional arguments from ``rest``)."""
    if spec.name == "llm_classify":
        if not rest:
            raise BindError("llm_classify() needs labels: llm_classify('... {column} ...', "
                            "['bug', 'feature', 'question'])")
        labels, descriptions = classify_labels(rest.pop(0))
        multi = given.get("multi", False)
        return {"labels": labels, "descriptions": descriptions,
                "returns": "VARCHAR[]" if multi else "VARCHAR"}
    if spec.name == "llm_score":
        if len(rest) < 2:
            raise BindError("llm_score() needs a range: llm_score('... {column} ...', 1, 5)")
        low, high = score_bound("low", rest.pop(0)), score_bound("high", rest.pop(0))
        if low >= high:
            raise BindError(f"llm_score(): low ({low}) must be less than high ({high})")
        return {"low": low, "high": high, "returns": "INTEGER"}
    return {"returns": given["returns"]} if given.get("returns") is not None else {}
