"""What a workflow workload is, and the helpers its SQL and its agent-style twin share.

A :class:`Workload` is: a seeded data generator (``data(sizes, seed)`` -> tables as lists of
row dicts, loaded into DuckDB by :func:`load_tables`), the HeliumSQL statements of the workflow,
and ``agent``: the same workflow written the way an agent framework runs it, row by row and
stage by stage, one LLM request at a time. Each statement's rows and the agent's rows must be
equal (same prompts, same greedy model), which the suite checks.

The agent renders prompts with the SQL layer's rules, spelled out here once: a template's
``{column}`` is the value's text (NULL as ''), a record-style call's context fields follow as
``\\nname: value`` lines, and ``llm_agg`` joins a group's values with newlines in sorted order.

>>> render("Hi {name}!", name="Ada")
'Hi Ada!'
>>> record("Is it good?", ("review", "nice"), ("stars", 5))
'Is it good?\\nreview: nice\\nstars: 5'
>>> sql_string("it's")
"'it''s'"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]

_PLACEHOLDER = re.compile(r"\{(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)\}")


class Llm(Protocol):
    """How an agent calls the model: one request, answered before the next is sent."""

    def __call__(self, prompt: str, max_tokens: int) -> str: ...

    def filter(self, prompt: str) -> bool | None: ...


@dataclass(frozen=True)
class Workload:
    """One workflow: its name, a one-line description, data, SQL and agent-style twin.

    ``sizes`` maps ``"quick"`` and ``"full"`` to a frozen dataclass of the workload's knobs
    (numbers of rows, fan-out, rounds), passed to every callable.
    """

    name: str
    description: str
    sizes: dict[str, Any]
    data: Callable[[Any, int], Tables]
    statements: Callable[[Any], list[str]]
    agent: Callable[[Tables, Llm, Any], list[list[tuple]]]


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal (quotes doubled; newlines kept, DuckDB accepts them)."""
    return "'" + text.replace("'", "''") + "'"


def render(template: str, **values: Any) -> str:
    """A template with each ``{column}`` (or ``{alias.column}``) replaced by its value's text."""
    return _PLACEHOLDER.sub(lambda m: text_of(values[m[1]]), template)


def text_of(value: Any) -> str:
    """``COALESCE(CAST(value AS VARCHAR), '')`` for the value types the workloads use."""
    return "" if value is None else str(value)


def record(question: str, *fields: tuple[str, Any]) -> str:
    """The prompt of ``llm('question', col_a, col_b)``: the question, then ``name: value`` lines."""
    return question + "".join(f"\n{name}: {text_of(value)}" for name, value in fields)


def aggregate(values: Sequence[Any]) -> str:
    """What an ``llm_agg`` template's placeholder becomes: the group's values, sorted, one a line."""
    return "\n".join(sorted(text_of(v) for v in values))


def load_tables(con: Any, tables: Tables) -> None:
    """Create one DuckDB table per entry of ``tables`` (column types inferred by Arrow)."""
    for name, rows in tables.items():
        frame = pa.Table.from_pylist(rows)
        con.register("__bench_rows", frame)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM __bench_rows")
        con.unregister("__bench_rows")
