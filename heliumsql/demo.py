"""``heliumsql --demo``: HeliumSQL's main job, offline, in under a minute on a laptop CPU.

Loads the small CSVs shipped in ``heliumsql/demo_data`` into an in-memory database, answers a few
LLM queries with the built-in model (sentiment and a 1-5 score, a yes/no filter, topics by
``llm_classify`` with GROUP BY, typed field extraction into a STRUCT, summaries) and runs one multi-stage agentic workflow as a single SQL statement:
analysts per ticker and role, a portfolio manager per ticker, then a trader's order. Results are
printed as tables, each with the figures EXPLAIN ANALYZE reports.

>>> from heliumsql.demo import run_demo
>>> run_demo()                                                         # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
TABLES = ("reviews", "documents", "messages", "prices", "portfolio")
ROLES = ("technical", "fundamental", "sentiment")
MAX_CELL = 60  # widest a text column gets; longer cells wrap


@dataclass(frozen=True)
class DemoQuery:
    """One step of the demo: a title, the SQL it runs and a line saying what to look at."""

    title: str
    sql: str
    note: str = ""


QUERIES = (
    DemoQuery(
        "Sentiment and a 1-5 score of every review (llm and llm_score in SELECT)",
        """SELECT id, product, stars,
       llm('Is this review positive or negative? Review: {review}', max_tokens => 4) AS sentiment,
       llm_score('How positive is this review? {review}', 1, 5) AS score
FROM reviews ORDER BY id LIMIT 10""",
        "the model never sees the star rating; compare stars with sentiment and score (an INTEGER in 1..5)"),
    DemoQuery(
        "Reviews that mention shipping (llm_filter in WHERE)",
        """SELECT id, product, review FROM reviews
WHERE stars <= 2 AND llm_filter('Does this review mention shipping? {review}')
ORDER BY id""",
        "the cheap predicate stars <= 2 runs first, so fewer reviews reach the model"),
    DemoQuery(
        "Topics of the news documents (llm_classify + GROUP BY)",
        """SELECT topic, count(*) AS documents, min(title) AS example
FROM (SELECT title,
             llm_classify('Article: {body}', ['sports', 'politics', 'technology', 'business', 'science']) AS topic
      FROM documents)
GROUP BY topic ORDER BY documents DESC, topic""",
        "the answer is always one of the labels: decoding is constrained to them"),
    DemoQuery(
        "Fields extracted from customer messages (one typed call per row: returns => STRUCT)",
        """SELECT id, r.name, r.city, r.number
FROM (SELECT id, llm('Extract the details from this message: {message}',
                     returns => 'STRUCT(name VARCHAR, city VARCHAR, number INTEGER)') AS r
      FROM messages)
ORDER BY id""",
        "r is a DuckDB STRUCT; number is an INTEGER column, no TRY_CAST needed"),
    DemoQuery(
        "One-line summaries of news documents (llm)",
        """SELECT title, llm('Summarize this document in one line: {body}', max_tokens => 24) AS summary
FROM documents ORDER BY id LIMIT 4""",
        ""),
    DemoQuery(
        "Overall opinion per product (llm_agg: one call per group)",
        """SELECT product, count(*) AS reviews,
       llm_agg('Summarize the overall sentiment of these reviews: {review}', max_tokens => 6) AS overall
FROM reviews GROUP BY product ORDER BY product""",
        ""),
)

WORKFLOW = DemoQuery(
    "Agentic trading workflow: analysts -> portfolio manager -> trader, as one query",
    """WITH moves AS (
    SELECT ticker, day, 100 * (close / lag(close) OVER (PARTITION BY ticker ORDER BY day) - 1) AS pct
    FROM prices),
  series AS (
    SELECT ticker, string_agg(printf('%+.1f%%', pct), ', ' ORDER BY day) AS moves
    FROM moves WHERE pct IS NOT NULL GROUP BY ticker),
  analysts AS (
    SELECT s.ticker, r.role,
           llm('You are a {role} analyst. Read the recent daily price moves of {ticker} and answer bullish or bearish. Moves: {moves}',
               max_tokens => 4) AS verdict
    FROM series s CROSS JOIN roles r),
  opinions AS (
    SELECT ticker, role || ': ' || verdict AS view FROM analysts),
  managers AS (
    SELECT ticker,
           llm_agg('You are a portfolio manager. Decide buy, sell or hold from these analyst views: {view}',
                   max_tokens => 4) AS decision,
           string_agg(view, '; ' ORDER BY view) AS views
    FROM opinions GROUP BY ticker)
SELECT m.ticker, m.views, m.decision, p.shares,
       llm('You are the trader. The portfolio manager decided {decision} for {m.ticker}. We hold {shares} shares. What order do you place? Answer buy, sell or none.',
           max_tokens => 4) AS trade
FROM managers m JOIN portfolio p ON p.ticker = m.ticker
ORDER BY m.ticker""",
    "DuckDB computes the daily moves; every LLM stage reads the previous stage's answers")


def load_demo_data(con: Any) -> None:
    """Create the demo tables (and the analyst ``roles``) on a HeliumSQL connection."""
    for name in TABLES:
        path = str(DEMO_DATA / f"{name}.csv").replace("'", "''")
        con.sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv('{path}')")
    values = ", ".join(f"('{role}')" for role in ROLES)
    con.sql(f"CREATE OR REPLACE TABLE roles AS SELECT * FROM (VALUES {values}) AS t(role)")


def _table(result: Any, title: str) -> Any:
    from rich.table import Table

    data = result.arrow()
    table = Table(title=title, title_justify="left", show_lines=False)
    for name in data.column_names:
        table.add_column(name, min_width=min(len(name), 12), max_width=MAX_CELL)
    for row in data.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


def _figures(result: Any) -> str:
    stats = getattr(result, "analyze", None)
    return str(stats) if stats is not None else ""


def _without_inputs(explain: str) -> str:
    # Each operator's input SQL fragment is long; the figures and the plan's shape are the point.
    return "\n".join(line for line in explain.splitlines() if not line.lstrip().startswith("input "))


def run_demo(console: Any = None, model: Any = None) -> None:
    """Run the demo, printing each query, its result and its figures to ``console``.

    ``model`` defaults to the built-in model; any ``heliumsql.connect(model=...)`` value works.

    >>> run_demo()                                                     # doctest: +SKIP
    """
    import torch
    from rich.console import Console

    console = console or Console()
    # The built-in model is tiny: one thread is fastest, and on a busy CPU several threads
    # spin-waiting on each other make every step many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(console, model)
    finally:
        torch.set_num_threads(threads)


def _run(console: Any, model: Any) -> None:
    import heliumsql
    from rich.syntax import Syntax

    started = time.perf_counter()
    # A private result cache: every run shows the engine's real work, not earlier runs' answers.
    con = heliumsql.connect(model=model, result_cache=":memory:")
    load_demo_data(con)
    console.rule("[bold]HeliumSQL demo")
    console.print(f"Tables from {DEMO_DATA}: {', '.join(TABLES)} (+ roles). "
                  "LLM calls are answered by the built-in model on this CPU.\n")
    for step in QUERIES + (WORKFLOW,):
        console.rule(step.title, align="left")
        console.print(Syntax(step.sql, "sql", theme="ansi_dark", background_color="default",
                             word_wrap=True))
        if step is WORKFLOW:
            # EXPLAIN ANALYZE runs the workflow once and reports every operator's figures; the
            # query after it is then answered from the result cache.
            explain = con.explain(step.sql, analyze=True)
            console.print("[bold]EXPLAIN ANALYZE[/bold] (input SQL fragments omitted)")
            console.print(_without_inputs(explain), markup=False, highlight=False)
        result = con.sql(step.sql)
        console.print(_table(result, ""))
        if step.note:
            console.print(f"[dim]{step.note}[/dim]")
        console.print(f"[dim]{_figures(result)}[/dim]\n")
    console.print(f"Demo finished in {time.perf_counter() - started:.1f} s.")
    con.close()
