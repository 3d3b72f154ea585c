"""Hierarchical ``llm_agg``: a group whose prompt is longer than the context is aggregated in a
tree instead of failing.

A group's prompt is the template with each value position holding the group's values joined by
newlines (``STRING_AGG(value, CHR(10) ORDER BY ...)``, see :func:`heliumsql.binder.render_prompt`).
:func:`group_shape` reads that shape back from the node's input: the static text between value
positions, and a query yielding each group's rows (``LIST([v1, v2, ...] ORDER BY ...)``, the
same order). Rendering all of a group's rows with the shape gives exactly its prompt (checked:
otherwise the group is reported as too long, as before).

The tree (:func:`aggregate`): level 0 packs the rows, in their order, into the fewest
consecutive chunks whose rendered prompt leaves room for the answer (``max_tokens``) in the
context, and asks the template over each chunk; each next level treats the answers as rows (in
the first value position; the other positions left empty) and does the same, until one prompt
holds them all. Chunking is greedy over a fixed order and every answer is a deterministic
function of its prompt, so the same group gives the same answer every time. A single value that
cannot fit a prompt on its own is the one thing left that can be too long: ``on_error`` applies
to it (raise, or NULL for the group).

>>> shape = GroupShape(("Summarize:\\n", 0, "\\nend"), 1, "")
>>> shape.render([("a",), ("b",)])
'Summarize:\\na\\nb\\nend'
>>> answer, levels = aggregate(shape, [(w,) for w in "abcdefgh"],
...                            fits=lambda p: len(p) <= 20, ask=lambda ps: [p[-5:-4] for p in ps])
>>> answer, levels
('h', [3, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

Row = tuple[str, ...]


class ValueTooLong(Exception):
    """One row does not fit a prompt on its own (``row`` is its position in the group)."""

    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


@dataclass(frozen=True)
class GroupShape:
    """``parts``: static text, or the index of a value position; ``num_values`` positions;
    ``rows_sql``: SELECT prompt, rows (each group's value tuples, in prompt order)."""

    parts: tuple[str | int, ...]
    num_values: int
    rows_sql: str

    def render(self, rows: Sequence[Row]) -> str:
        return "".join(p if isinstance(p, str) else "\n".join(r[p] for r in rows)
                       for p in self.parts)


def _is_newline(e: exp.Expr) -> bool:
    return isinstance(e, exp.Chr) and [a.sql("duckdb") for a in e.expressions] == ["10"]


def group_shape(query: exp.Query) -> GroupShape | None:
    """The shape of an aggregate node's input (``SELECT <prompt> AS prompt ... GROUP BY``), or
    None when its prompt is not static text and newline-joined values."""
    if not isinstance(query, exp.Select) or not query.expressions:
        return None
    prompt = query.expressions[0]
    body = prompt.this if isinstance(prompt, exp.Alias) else prompt
    pieces = body.expressions if isinstance(body, exp.Concat) else [body]
    parts: list[str | int] = []
    values: list[str] = []
    orders: set[str] = set()
    for piece in pieces:
        if isinstance(piece, exp.Literal) and piece.is_string:
            parts.append(piece.this)
        elif _is_newline(piece):
            parts.append("\n")
        elif (isinstance(piece, exp.GroupConcat) and isinstance(piece.this, exp.Order)
              and _is_newline(piece.args.get("separator") or exp.null())):
            values.append(piece.this.this.sql("duckdb"))
            orders.add(", ".join(o.sql("duckdb") for o in piece.this.expressions))
            parts.append(len(values) - 1)
        else:
            return None
    if not values or len(orders) != 1:
        return None
    rows = sqlglot.parse_one(f"LIST([{', '.join(values)}] ORDER BY {orders.pop()})", read="duckdb")
    select = query.copy()
    select.set("expressions", [prompt.copy(), exp.alias_(rows, "rows")])
    return GroupShape(tuple(parts), len(values), select.sql("duckdb"))


def _chunks(shape: GroupShape, rows: Sequence[Row], fits: Callable[[str], bool]) -> list[list[Row]]:
    """Consecutive runs of ``rows``, each as long as still fits (greedy, in order)."""
    chunks: list[list[Row]] = []
    current: list[Row] = []
    for i, row in enumerate(rows):
        if current and fits(shape.render(current + [row])):
            current.append(row)
            continue
        if current:
            chunks.append(current)
        if not fits(shape.render([row])):
            raise ValueTooLong(i)
        current = [row]
    if current:
        chunks.append(current)
    return chunks


def aggregate(shape: GroupShape, rows: Sequence[Row], fits: Callable[[str], bool],
              ask: Callable[[list[str]], list[str]]) -> tuple[str, list[int]]:
    """The group's answer and the number of calls at each level (the last level has one).
    ``fits(prompt)``: whether a prompt leaves room for its answer; ``ask(prompts)``: answers.
    Raises ValueTooLong for a row that fits no prompt, ValueError when two answers together
    never fit (``max_tokens`` too large for this context to ever merge them)."""
    calls: list[int] = []
    rows = list(rows)
    while True:
        whole = shape.render(rows)
        if fits(whole):
            calls.append(1)
            return ask([whole])[0], calls
        chunks = _chunks(shape, rows, fits)
        if calls and len(chunks) == len(rows):
            raise ValueError("no two answers fit one prompt")
        answers = ask([shape.render(c) for c in chunks])
        calls.append(len(chunks))
        blank = ("",) * (shape.num_values - 1)
        rows = [((a or ""),) + blank for a in answers]
