"""Print query results the way ``.mode`` asks: rich tables, CSV, JSON or Markdown.

Table mode keeps only the first and last rows of a long result in memory (it reads the result
batch by batch and counts the rest), so ``SELECT * FROM big`` prints at once and never holds the
table. The export modes (csv, json, markdown) write every row, batch by batch.
"""

from __future__ import annotations

import collections
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table
from rich.text import Text

MODES = ("table", "csv", "json", "markdown")

# Long LLM outputs make unreadable tables; the full text is one `.mode csv` away.
MAX_CELL_CHARS = 80


@dataclass(frozen=True)
class Preview:
    """What table mode shows of a result: head and tail rows plus the total row count."""

    columns: list[str]
    types: list[str]
    head: list[tuple[Any, ...]]
    tail: list[tuple[Any, ...]]
    num_rows: int

    @property
    def num_hidden(self) -> int:
        return self.num_rows - len(self.head) - len(self.tail)


def batches_of(result: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and record batches of a HeliumSQL ``Result`` or anything Arrow-like."""
    if isinstance(result, pa.Table):
        return result.schema, iter(result.to_batches())
    reader = None
    if hasattr(result, "fetch_record_batch"):
        reader = result.fetch_record_batch(8192)
    if isinstance(reader, pa.RecordBatchReader):
        return reader.schema, iter(reader)
    table = result.arrow()
    if isinstance(table, pa.RecordBatchReader):
        return table.schema, iter(table)
    return table.schema, iter(table.to_batches())


def preview(schema: pa.Schema, batches: Iterable[pa.RecordBatch], max_rows: int = 40) -> Preview:
    """Keep the first and last ``max_rows // 2`` rows and count the rest.

    >>> t = pa.table({"x": list(range(100))})
    >>> p = preview(t.schema, t.to_batches(), max_rows=4)
    >>> p.head, p.tail, p.num_rows
    ([(0,), (1,)], [(98,), (99,)], 100)
    """
    half = max(1, max_rows // 2)
    head: list[tuple[Any, ...]] = []
    tail: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=max_rows - half)
    num_rows = 0
    for batch in batches:
        num_rows += batch.num_rows
        rows = _rows(batch)
        while rows and len(head) < half:
            head.append(rows.pop(0))
        if rows:
            # Only the last rows of the batch can end up in the tail.
            tail.extend(rows[-(tail.maxlen or 1):])
    if num_rows <= max_rows:
        head.extend(tail)
        tail.clear()
    return Preview(schema.names, [str(t) for t in schema.types], head, list(tail), num_rows)


def _rows(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    columns = [col.to_pylist() for col in batch.columns]
    return list(zip(*columns)) if columns else []


def cell(value: Any) -> Text:
    """One table cell: NULL dimmed, newlines shown as ``↵``, long text cut with an ellipsis."""
    if value is None:
        return Text("NULL", style="dim")
    text = str(value).replace("\r\n", "\n").replace("\n", "↵")
    if len(text) > MAX_CELL_CHARS:
        text = text[:MAX_CELL_CHARS - 1] + "…"
    return Text(text)


def fit_widths(natural: list[int], available: int) -> list[int]:
    """Share ``available`` characters between columns: narrow columns keep their natural width,
    the wide ones split what is left evenly (water filling).

    >>> fit_widths([5, 200, 4], 50)
    [5, 41, 4]
    """
    widths = list(natural)
    remaining, left = available, len(natural)
    for i in sorted(range(len(natural)), key=natural.__getitem__):
        widths[i] = max(1, min(natural[i], remaining // left))
        remaining -= widths[i]
        left -= 1
    return widths


def render_table(p: Preview, width: int = 100) -> Table:
    """A rich table with typed headers and a row-count caption, fitted to ``width`` characters."""
    table = Table(show_lines=False)
    rows = [[cell(v) for v in row] for row in p.head]
    if p.num_hidden > 0:
        rows.append([Text("·", style="dim") for _ in p.columns])
    rows += [[cell(v) for v in row] for row in p.tail]
    natural = [max([len(name), len(typ)] + [len(r[i]) for r in rows])
               for i, (name, typ) in enumerate(zip(p.columns, p.types))]
    # Each column costs its text plus 3 characters of padding and border, plus 1 for the edge.
    widths = fit_widths(natural, width - 3 * len(natural) - 1)
    for name, typ, w in zip(p.columns, p.types, widths):
        numeric = typ.startswith(("int", "uint", "double", "float", "decimal"))
        table.add_column(Text.assemble((name, "bold"), "\n", (typ, "dim")), no_wrap=True,
                         overflow="ellipsis", justify="right" if numeric else "left", width=w)
    for row in rows:
        table.add_row(*row)
    return table


def _caption(p: Preview) -> str:
    rows = f"{p.num_rows} row{'s' if p.num_rows != 1 else ''}"
    if p.num_hidden > 0:
        rows += f" ({len(p.head) + len(p.tail)} shown)"
    cols = len(p.columns)
    return f"{rows}, {cols} column{'s' if cols != 1 else ''}"


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: TextIO) -> int:
    """CSV with a header line; returns the number of rows written."""
    buf = io.BytesIO()
    num_rows = 0
    with pacsv.CSVWriter(buf, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            num_rows += batch.num_rows
            out.write(buf.getvalue().decode())
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue().decode())
    return num_rows


def write_json(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: TextIO) -> int:
    """A JSON array of row objects, one row per line (as DuckDB's CLI prints it)."""
    num_rows = 0
    out.write("[")
    for batch in batches:
        for record in batch.to_pylist():
            out.write(("\n" if num_rows == 0 else ",\n") + json.dumps(record, default=str))
            num_rows += 1
    out.write("\n]\n" if num_rows else "]\n")
    return num_rows


def write_markdown(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: TextIO) -> int:
    """A GitHub-flavoured Markdown table."""
    def md(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", "<br>")

    out.write("| " + " | ".join(md(n) for n in schema.names) + " |\n")
    out.write("|" + "|".join("---" for _ in schema.names) + "|\n")
    num_rows = 0
    for batch in batches:
        for row in _rows(batch):
            out.write("| " + " | ".join(md(v) for v in row) + " |\n")
            num_rows += 1
    return num_rows


WRITERS = {"csv": write_csv, "json": write_json, "markdown": write_markdown}


def print_result(result: Any, console: Console, mode: str = "table", max_rows: int = 40) -> int:
    """Print ``result`` in ``mode`` on ``console``; returns its number of rows.

    >>> c = Console(file=io.StringIO(), width=60)
    >>> print_result(pa.table({"x": [1, 2]}), c, "csv"), c.file.getvalue()
    (2, '"x"\\n1\\n2\\n')
    >>> c = Console(file=io.StringIO(), width=60)
    >>> print_result(pa.table({"plan": ["Query\\n  Llm #1  llm('x')"]}), c), c.file.getvalue()
    (1, "Query\\n  Llm #1  llm('x')\\n")
    """
    schema, batches = batches_of(result)
    if not schema.names:
        return 0
    if mode == "table" and schema.names in (["plan"], ["explain_key", "explain_value"]):
        # An EXPLAIN (HeliumSQL's or DuckDB's): the plan text as it is, not a table cell.
        rows = [r for b in batches for r in _rows(b)]
        console.print("\n".join(str(r[-1]) for r in rows), highlight=False, markup=False)
        return len(rows)
    if mode == "table":
        p = preview(schema, batches, max_rows)
        console.print(render_table(p, console.width))
        console.print(_caption(p), style="dim", highlight=False)
        return p.num_rows
    # Straight to the console's file: no styling, no folding, and nothing accumulates.
    num_rows = WRITERS[mode](schema, batches, console.file)
    console.file.flush()
    return num_rows
