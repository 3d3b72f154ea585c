"""The workflow suite as LOTUS runs it: one semantic operator at a time over a whole table.

LOTUS (``sem_map``, ``sem_filter``, ``sem_agg`` on a DataFrame) renders one prompt per row of
the operator's input, in row order, and hands all of them to its model at once, which sends them
through a pool of C worker threads (LiteLLM's batch completion); the next operator starts when
every row of this one is answered. It merges no identical calls (its cache is off by default)
and pushes no ``LIMIT`` into a filter (``.head(k)`` runs after ``sem_filter``). A cheap pandas
predicate the user wrote before the semantic filter stays before it, as in the SQL.

Each function here is that plan for one workload, written from the workload's own templates and
rendering rules (so the prompts, and with a greedy server the rows, equal the SQL statements').

>>> sorted(OPERATORS) == sorted(w.name for w in ALL)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from benchmarks.workflows import debate, exploration, map_reduce, multi_agent, records
from benchmarks.workflows.workload import Tables, aggregate, record, render

ALL = (multi_agent.WORKLOAD, map_reduce.WORKLOAD, exploration.WORKLOAD, debate.WORKLOAD,
       records.WORKLOAD)


class BatchLlm(Protocol):
    """How a LOTUS-style client calls the model: all rows of one operator at once."""

    def map(self, prompts: list[str], max_tokens: int) -> list[str]: ...

    def filter(self, prompts: list[str]) -> list[bool | None]: ...


def run_multi_agent(tables: Tables, llm: BatchLlm, sizes: Any) -> list[list[tuple]]:
    analyst, n = multi_agent._analyst(sizes), sizes.max_tokens
    tickers = tables["tickers"]
    # analysts.merge(tickers, how="cross"): analyst-major row order.
    pairs = [(a, t) for a in tables["analysts"] for t in tickers]
    views = llm.map([render(analyst, **a, **t) for a, t in pairs], n)
    reports: dict[str, list[str]] = {t["ticker"]: [] for t in tickers}
    for (a, t), view in zip(pairs, views):
        reports[t["ticker"]].append(f"{a['role']}: {view}")
    plans = llm.map([render(multi_agent.MANAGER, report=aggregate(reports[t["ticker"]]))
                     for t in tickers], n)
    risk = next(a for a in tables["analysts"] if a["role"] == "risk")
    risk_views = llm.map([render(analyst, **risk, **t) for t in tickers], n)
    decisions = llm.map([render(multi_agent.TRADER, ticker=t["ticker"], plan=p, risk_view=r)
                         for t, p, r in zip(tickers, plans, risk_views)], n)
    return [sorted(zip([t["ticker"] for t in tickers], plans, risk_views, decisions))]


def run_map_reduce(tables: Tables, llm: BatchLlm, sizes: Any) -> list[list[tuple]]:
    n, docs = sizes.chunk_chars, tables["documents"]
    chunks = [(d, i) for d in docs for i in range(sizes.num_chunks)]
    summaries = llm.map([render(map_reduce.MAP, title=d["title"], part_no=i + 1,
                                chunk=d["body"][i * n:(i + 1) * n]) for d, i in chunks],
                        map_reduce.MAX_TOKENS)
    parts: dict[Any, list[str]] = {d["doc_id"]: [] for d in docs}
    for (d, i), summary in zip(chunks, summaries):
        parts[d["doc_id"]].append(f"Part {i + 1}: {summary}")
    merged = llm.map([render(map_reduce.REDUCE, part=aggregate(parts[d["doc_id"]])) for d in docs],
                     map_reduce.MAX_TOKENS)
    return [sorted(zip([d["doc_id"] for d in docs], merged))]


def run_exploration(tables: Tables, llm: BatchLlm, sizes: Any) -> list[list[tuple]]:
    questions, strategies = tables["questions"], tables["strategies"]
    attempts = [(q, s) for q in questions for s in strategies]
    answers = llm.map([render(exploration.SOLVER, **q, strategy=s["strategy"]) for q, s in attempts],
                      exploration.MAX_TOKENS)
    lines: dict[Any, list[str]] = {q["qid"]: [] for q in questions}
    for (q, s), answer in zip(attempts, answers):
        lines[q["qid"]].append(f"{s['sid']}. {answer}")
    candidates = ["\n".join(lines[q["qid"]]) for q in questions]
    verdicts = llm.map([render(exploration.JUDGE, **q, candidates=c)
                        for q, c in zip(questions, candidates)], exploration.MAX_TOKENS)
    return [sorted(zip([q["qid"] for q in questions], candidates, verdicts))]


def run_debate(tables: Tables, llm: BatchLlm, sizes: Any) -> list[list[tuple]]:
    motions = tables["motions"]
    transcripts = [""] * len(motions)
    for side in debate._turns(sizes):
        answers = llm.map([render(debate.DEBATE + debate.TURNS[side], **m, transcript=t)
                           for m, t in zip(motions, transcripts)], debate.MAX_TOKENS)
        transcripts = [t + f"{side}: {a}\n" for t, a in zip(transcripts, answers)]
    verdicts = llm.map([render(debate.JUDGE, **m, transcript=t)
                        for m, t in zip(motions, transcripts)], debate.MAX_TOKENS)
    return [sorted(zip([m["mid"] for m in motions], transcripts, verdicts))]


def run_records(tables: Tables, llm: BatchLlm, sizes: Any) -> list[list[tuple]]:
    rows = sorted(tables["reviews"], key=lambda r: r["review_id"])
    satisfied = llm.map([record(records.SATISFIED, ("review_text", r["review_text"]),
                                ("product_description", r["product_description"]),
                                ("product_title", r["product_title"])) for r in rows],
                        records.MAX_TOKENS)
    # df[df.rating <= 2].sem_filter(...).sort_values("review_id").head(limit)
    low = [r for r in rows if r["rating"] <= 2]
    verdicts = llm.filter([record(records.COMPLAINS, ("review_text", r["review_text"]),
                                  ("product_description", r["product_description"])) for r in low])
    complaints = [(r["review_id"], r["product_title"])
                  for r, keep in zip(low, verdicts) if keep][:sizes.limit]
    buyers = llm.map([record(records.BUYER, ("product_title", r["product_title"]),
                             ("category", r["category"]),
                             ("product_description", r["product_description"])) for r in rows],
                     records.MAX_TOKENS)
    return [list(zip([r["review_id"] for r in rows], satisfied)), complaints,
            list(zip([r["review_id"] for r in rows], buyers))]


OPERATORS: dict[str, Callable[[Tables, BatchLlm, Any], list[list[tuple]]]] = {
    "multi_agent": run_multi_agent, "map_reduce": run_map_reduce,
    "exploration": run_exploration, "debate": run_debate, "records": run_records}
