"""Workload 1, multi-agent analysis (a trading firm): analysts, then a manager, then a trader.

Stage 1 fans out: every ticker is read by every analyst desk, each prompt being the firm's long
shared instructions, the desk's brief and the ticker's data. Stage 2 fans in: a manager per
ticker reads the desks' one-line views (``llm_agg``). Stage 3 decides, and, as trading
workflows do, asks the risk desk again for its view of the ticker: the very same call as in
stage 1, written again in a later step of the workflow.

>>> WORKLOAD.statements(WORKLOAD.sizes["quick"])[0].count("llm(")
3
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, aggregate, render, sql_string

FIRM = (
    "You are an analyst at a long-short equity fund. The fund holds positions for weeks to "
    "months and sizes them by conviction and by risk. Read the material below with care. "
    "Separate facts from opinion, and recent news from old news. Say what would change your "
    "mind. Never invent numbers that are not in the material. Prefer plain words to jargon. "
    "Compare the company with its sector when the material allows it. Flag any data that "
    "looks stale or inconsistent. Your note goes to the portfolio manager together with the "
    "notes of the other desks, so keep to your own desk's angle and do not repeat theirs. "
    "End with one line that states your view: positive, negative or neutral, and why."
)
DESKS = (
    ("fundamentals", "Judge earnings quality, margins, debt and cash flow against guidance."),
    ("sentiment", "Judge how investors and customers feel, from tone, flows and positioning."),
    ("news", "Judge what the latest events change for the next two quarters."),
    ("technical", "Judge price trend, volume and momentum over the last three months."),
    ("risk", "Judge what could go wrong: leverage, concentration, legal and event risk."),
)
SECTORS = ("semiconductors", "retail", "energy", "software", "logistics", "healthcare")
ANALYST = ("\nYour desk: {role}. {focus}\nTicker: {ticker} ({company}, {sector})\n"
           "Fundamentals: {fundamentals}\nRecent news: {news}\nYour view in one line:")
MANAGER = (
    "You are the portfolio manager of a long-short equity fund. Each desk has sent you a "
    "one-line view of the same ticker. Weigh the views against each other: agreement between "
    "desks raises conviction, a strong risk view lowers the size. Do not average blindly; say "
    "which desk you trust most for this name and why. Write one line: the direction you lean, "
    "the conviction from one to five, and the main reason.\nDesk views:\n{report}\nYour plan:"
)
TRADER = (
    "You are the head trader. You receive the portfolio manager's plan and the risk desk's "
    "view for one ticker. Turn them into an order: BUY, SELL or HOLD, and a size as a share "
    "of the book from zero to two percent. If the risk desk is alarmed, halve the size.\n"
    "Ticker: {p.ticker}\nManager plan: {plan}\nRisk desk: {risk_view}\nOrder:"
)


@dataclass(frozen=True)
class Sizes:
    """``num_tickers`` tickers, each read by the first ``num_desks`` desks (risk always among them);
    every call writes ``max_tokens`` tokens; ``house_rules`` adds the shared rules to the analysts'
    instructions."""

    num_tickers: int
    num_desks: int
    max_tokens: int
    house_rules: bool


def _analyst(sizes: Sizes) -> str:
    return text.with_rules(FIRM, sizes.house_rules) + ANALYST


def _desks(sizes: Sizes) -> tuple[tuple[str, str], ...]:
    return DESKS[:sizes.num_desks - 1] + (DESKS[-1],)


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"multi_agent-{seed}")
    tickers = []
    for i in range(sizes.num_tickers):
        company = text.name(rng)
        tickers.append(dict(ticker=company[:3].upper() + chr(ord("A") + i), company=company,
                            sector=rng.choice(SECTORS), fundamentals=text.paragraph(rng, 110),
                            news=text.paragraph(rng, 110)))
    return {"tickers": tickers,
            "analysts": [dict(role=role, focus=focus) for role, focus in _desks(sizes)]}


def statements(sizes: Sizes) -> list[str]:
    n = sizes.max_tokens
    analyst = f"llm({sql_string(_analyst(sizes))}, max_tokens => {n})"
    return [f"""
WITH views AS (
  SELECT t.ticker, a.role, {analyst} AS view
  FROM analysts a CROSS JOIN tickers t
),
reports AS (SELECT ticker, role || ': ' || view AS report FROM views),
plans AS (
  SELECT ticker, llm_agg({sql_string(MANAGER)}, max_tokens => {n}) AS plan
  FROM reports GROUP BY ticker
),
risk AS (
  SELECT t.ticker, {analyst} AS risk_view
  FROM analysts a CROSS JOIN tickers t WHERE a.role = 'risk'
)
SELECT p.ticker, p.plan, r.risk_view,
       llm({sql_string(TRADER)}, max_tokens => {n}) AS decision
FROM plans p JOIN risk r ON p.ticker = r.ticker
ORDER BY p.ticker"""]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """Per ticker: every desk in turn, the manager, the risk desk again, the trader."""
    desks = {a["role"]: a for a in tables["analysts"]}
    analyst, n = _analyst(sizes), sizes.max_tokens
    rows = []
    for t in tables["tickers"]:
        views = {role: llm(render(analyst, **desk, **t), n) for role, desk in desks.items()}
        plan = llm(render(MANAGER, report=aggregate([f"{r}: {v}" for r, v in views.items()])), n)
        risk_view = llm(render(analyst, **desks["risk"], **t), n)
        decision = llm(render(TRADER, ticker=t["ticker"], plan=plan, risk_view=risk_view), n)
        rows.append((t["ticker"], plan, risk_view, decision))
    return [sorted(rows)]


WORKLOAD = Workload(
    name="multi_agent",
    description="tickers x analyst desks, a manager per ticker (llm_agg), a trader; the risk "
                "desk's call repeated in the last stage",
    sizes={"quick": Sizes(num_tickers=2, num_desks=3, max_tokens=12, house_rules=False),
           "full": Sizes(num_tickers=6, num_desks=5, max_tokens=12, house_rules=False),
           # Closer to production agents: the shared house rules, one-sentence answers.
           "large": Sizes(num_tickers=8, num_desks=5, max_tokens=64, house_rules=True)},
    data=data, statements=statements, agent=agent)
