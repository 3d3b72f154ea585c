"""Workload 3, parallel exploration: k solution strategies per question, then a judge.

Every question is attempted once per row of a ``strategies`` table (the solver's instructions
and the question come first, so the k attempts of a question share all but the strategy);
DuckDB gathers each question's attempts (``string_agg``) and a judge picks the best one.
Strategies are rows rather than ``llm_map(..., n => k)`` samples because greedy decoding keeps
every system's answers comparable token for token (sampled answers depend on each backend's
random-number use, not only on the seed).

>>> WORKLOAD.statements(WORKLOAD.sizes["quick"])[0].count("llm(")
2
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, render, sql_string

MAX_TOKENS = 12
SOLVER = (
    "You are a careful problem solver working on questions about business and public data. "
    "Read the question and the context. Use only the context and common knowledge; if the "
    "context does not settle the question, say what is missing. Show the key step of your "
    "reasoning in a few words, then give a short final answer. Be concrete: name the number, "
    "the entity or the yes/no you conclude. Several solvers work on the same question with "
    "different strategies; follow the strategy you are given even when another seems easier, "
    "because the point is to explore different routes to the answer.\n"
    "Question: {question}\nContext: {context}\nStrategy: {strategy}\nAnswer:"
)
JUDGE = (
    "You are the judge. Several solvers answered the same question, each with a different "
    "strategy. Check each answer against the context, prefer answers whose key step is stated "
    "and correct, and pick one. Reply with the strategy number and one line on why.\n"
    "Question: {question}\nContext: {context}\nCandidates:\n{candidates}\nBest:"
)
STRATEGIES = (
    "Work forwards from the facts in the context, one step at a time.",
    "Work backwards from what a good answer must look like, then check it.",
    "Estimate with round numbers first, then refine the estimate.",
    "List the assumptions the question makes and test the weakest one.",
    "Compare with a similar case you know and adjust for the differences.",
    "Argue against the obvious answer and see whether it survives.",
)


@dataclass(frozen=True)
class Sizes:
    """``num_questions`` questions, each tried with ``num_strategies`` strategies."""

    num_questions: int
    num_strategies: int


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"exploration-{seed}")
    questions = [dict(qid=i + 1,
                      question=f"Does the {rng.choice(text.WORDS)} of {text.name(rng)} "
                               f"{rng.choice(text.VERBS)} its {rng.choice(text.WORDS)} next year?",
                      context=text.paragraph(rng, 260))
                 for i in range(sizes.num_questions)]
    strategies = [dict(sid=i + 1, strategy=s) for i, s in enumerate(STRATEGIES[:sizes.num_strategies])]
    return {"questions": questions, "strategies": strategies}


def statements(sizes: Sizes) -> list[str]:
    return [f"""
WITH attempts AS (
  SELECT q.qid, s.sid, llm({sql_string(SOLVER)}, max_tokens => {MAX_TOKENS}) AS answer
  FROM questions q CROSS JOIN strategies s
),
candidates AS (
  SELECT qid, string_agg(sid || '. ' || answer, chr(10) ORDER BY sid) AS candidates
  FROM attempts GROUP BY qid
)
SELECT q.qid, c.candidates, llm({sql_string(JUDGE)}, max_tokens => {MAX_TOKENS}) AS verdict
FROM questions q JOIN candidates c ON q.qid = c.qid
ORDER BY q.qid"""]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """Per question: each strategy in turn, then the judge."""
    rows = []
    for q in tables["questions"]:
        answers = [f"{s['sid']}. " + llm(render(SOLVER, **q, strategy=s["strategy"]), MAX_TOKENS)
                   for s in tables["strategies"]]
        candidates = "\n".join(answers)
        rows.append((q["qid"], candidates,
                     llm(render(JUDGE, **q, candidates=candidates), MAX_TOKENS)))
    return [sorted(rows)]


WORKLOAD = Workload(
    name="exploration",
    description="k strategies per question (a strategies table), attempts gathered by DuckDB, "
                "a judge per question",
    sizes={"quick": Sizes(num_questions=2, num_strategies=3),
           "full": Sizes(num_questions=6, num_strategies=4)},
    data=data, statements=statements, agent=agent)
