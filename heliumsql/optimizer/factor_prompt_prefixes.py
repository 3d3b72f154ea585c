"""Static prompt prefixes, shared by a node's rows or by several nodes, become pinned prefixes.

Every prompt of a node starts with the same text: the chat wrapper (BOS, the system message,
the user-turn marker) and the template's static start. With the model's tokenizer that prefix
is found as token ids: the chat template is rendered around two different probe values and
the common token prefix is kept, less its last token (a real value may merge with it). Without
a tokenizer (EXPLAIN without a model) it is kept as (system, text) and shown as text.

Prefixes are then factored across nodes: each node's own prefix (worth pinning when its rows
differ), and the longest prefix any group of nodes shares (the branch points of the prefix
tree of all node prefixes), when it is longer than the bare chat wrapper. The plan records them
(``LogicalPlan.prefixes``); the runtime prefills each once and keeps it resident from its
first consumer's first request until its last consumer has been admitted.

>>> from heliumsql.testing import logical_plan
>>> from heliumsql.optimizer import RuleContext, optimize
>>> SCHEMA = "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER)"
>>> plan, con = logical_plan("SELECT llm('You are a careful analyst. Rate {review}') AS a, "
...                          "llm('You are a careful analyst. Sum up {review}') AS b FROM reviews",
...                          SCHEMA)
>>> prefixes = optimize(plan, RuleContext(con), (factor_prompt_prefixes,)).prefixes
>>> [(p.consumers, p.text) for p in prefixes]  # shared by both, then each node's own start
[((1, 2), 'You are a careful analyst. '), ((1,), 'You are a careful analyst. Rate '), ((2,), 'You are a careful analyst. Sum up ')]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from heliumsql.errors import HeliumError
from heliumsql.optimizer.rewrite import ids, note
from heliumsql.plan.nodes import EMBEDDING_KINDS, LogicalPlan, PinnedPrefix
from heliumsql.prompting import common_prefix, prefix_token_ids

if TYPE_CHECKING:
    from heliumsql.optimizer import RuleContext

_RULE = "factor_prompt_prefixes"
# A prefix shorter than this (beyond the chat wrapper every prompt has) is not worth a pin.
MIN_SHARED_CHARS = 16  # text mode (no tokenizer): system + static text
MIN_SHARED_TOKENS = 4  # token mode


def static_text(prompt: exp.Expr) -> tuple[str, bool]:
    """(the text every prompt rendered by ``prompt`` starts with, whether anything follows).

    >>> import sqlglot
    >>> static_text(sqlglot.parse_one("concat('Hi ', coalesce(name, ''), '!')"))
    ('Hi ', True)
    """
    parts: list[exp.Expr] = []

    def flatten(e: exp.Expr) -> None:
        if isinstance(e, (exp.Cast, exp.Paren)):
            flatten(e.this)
        elif isinstance(e, exp.Concat):
            for p in e.expressions:
                flatten(p)
        elif isinstance(e, exp.DPipe):
            flatten(e.this)
            flatten(e.expression)
        else:
            parts.append(e)

    flatten(prompt)
    text = []
    for part in parts:
        if isinstance(part, exp.Literal) and part.is_string:
            text.append(part.name)
        elif isinstance(part, exp.Chr) and [a.sql() for a in part.expressions] == ["10"]:
            text.append("\n")
        else:
            return "".join(text), True
    return "".join(text), False


@dataclass(frozen=True)
class _Start:
    node: int
    key: tuple[int, ...] | str  # token ids, or system + NUL + text
    text: str
    system: str | None
    varies: bool  # rows render different prompts (a prefix shared by the rows is worth a pin)


def _starts(plan: LogicalPlan, tokenizer: Any) -> tuple[list[_Start], int]:
    """Each node's static start, and how long the bare chat wrapper is (in key units)."""
    starts = []
    tokenized: dict[tuple[str, str | None], tuple[int, ...]] = {}  # calls often share a start
    for node in plan.nodes:
        if node.call.kind in EMBEDDING_KINDS:
            continue  # nothing is generated, so no KV prefix to pin
        text, varies = static_text(node.call.prompt)
        system = node.call.option("system") or None
        key: tuple[int, ...] | str = f"{system or ''}\0{text}"
        if tokenizer:
            if (text, system) not in tokenized:
                tokenized[text, system] = prefix_token_ids(tokenizer, text, system)
            key = tokenized[text, system]
        starts.append(_Start(node.id, key, text, system, varies))
    wrapper = len(prefix_token_ids(tokenizer, "", None)) if tokenizer else 1
    return starts, wrapper


def _shared(starts: list[_Start], wrapper: int, minimum: int) -> dict[Any, list[_Start]]:
    """Prefix key -> the starts that begin with it: each start's own (if its rows vary) and
    every longest prefix two or more starts share, if ``minimum`` longer than the wrapper."""
    candidates: set[Any] = set()
    for start in starts:
        if start.varies and len(start.key) >= wrapper + minimum:
            candidates.add(start.key)
    for i, a in enumerate(starts):
        for b in starts[i + 1:]:
            n = common_prefix(a.key, b.key)
            if isinstance(a.key, str) and "\0" not in a.key[:n]:
                continue  # text mode can only share whole system messages
            if n >= wrapper + minimum:
                candidates.add(a.key[:n])
    out = {}
    for key in candidates:
        users = [s for s in starts if s.key[:len(key)] == key]
        if len(users) >= 2 or (users and users[0].varies):
            out[key] = users
    return out


def _prefix(key: Any, users: list[_Start], tokens: bool) -> PinnedPrefix:
    consumers = tuple(sorted({s.node for s in users}))
    if tokens:
        texts = [s.text for s in users]
        n = min(common_prefix(texts[0], t) for t in texts)
        system = users[0].system if all(s.system == users[0].system for s in users) else None
        return PinnedPrefix(consumers, texts[0][:n], system, tuple(key))
    system, _, text = key.partition("\0")
    return PinnedPrefix(consumers, text, system or None)


def factor_prompt_prefixes(plan: LogicalPlan, ctx: "RuleContext") -> LogicalPlan:
    """Record the pinned prefixes of the plan (token ids when a tokenizer is at hand)."""
    if all(n.call.kind in EMBEDDING_KINDS for n in plan.nodes):
        return plan  # nothing generated: no prefix to pin, no model to load for its tokenizer
    tokenizer = None
    if ctx.tokenizer is not None:
        try:
            tokenizer = ctx.tokenizer()
        except HeliumError:
            tokenizer = None  # the query will report the model problem itself
    starts, wrapper = _starts(plan, tokenizer)
    minimum = MIN_SHARED_TOKENS if tokenizer else MIN_SHARED_CHARS
    shared = _shared(starts, wrapper, minimum)
    prefixes = sorted((_prefix(k, users, tokenizer is not None) for k, users in shared.items()),
                      key=lambda p: (p.consumers[0], -len(p.consumers), len(p.text)))
    if tuple(prefixes) == plan.prefixes:
        return plan
    plan = replace(plan, prefixes=tuple(prefixes))
    for prefix in prefixes:
        size = (f"{len(prefix.token_ids)} tokens" if prefix.token_ids is not None
                else f"{len(prefix.text) + len(prefix.system or '')} chars")
        who = ids(prefix.consumers) if len(prefix.consumers) > 1 else \
            f"the rows of #{prefix.consumers[0]}"
        plan = note(plan, _RULE, f"prefix pinned: {size} shared by {who}")
    return plan
