"""Workload 4, debate: two agents argue over several rounds, then a judge rules.

Each turn is one chained CTE: its prompt carries the debate's instructions, the motion and the
transcript so far, and its answer is appended to the transcript the next turn reads. So every
turn's prompt extends the previous turn's, and the transcript grows round by round.

>>> len(WORKLOAD.statements(WORKLOAD.sizes["quick"])[0].split("llm(")) - 1
5
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, render, sql_string

MAX_TOKENS = 12
DEBATE = (
    "This is a formal debate between two agents before a panel. The proposition argues FOR the "
    "motion, the opposition argues AGAINST it. Each turn is one line. Answer the strongest "
    "point the other side made in its last turn before adding a new one. Use the background "
    "facts; do not invent statistics. Stay civil, stay on the motion, and do not repeat a point "
    "you already made. The panel scores clarity, use of evidence and rebuttal.\n"
    "Motion: {motion}\nBackground: {background}\nTranscript so far:\n{transcript}"
)
TURNS = {"PRO": "Your turn, proposition. Argue FOR the motion:",
         "CON": "Your turn, opposition. Argue AGAINST the motion:"}
JUDGE = (
    "You chair the debate panel. Read the whole transcript, then name the side that argued "
    "better and give the one point that decided it.\nMotion: {motion}\nTranscript:\n"
    "{transcript}\nVerdict:"
)


@dataclass(frozen=True)
class Sizes:
    """``num_motions`` debates of ``num_rounds`` rounds (a PRO turn and a CON turn each)."""

    num_motions: int
    num_rounds: int


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"debate-{seed}")
    motions = [dict(mid=i + 1,
                    motion=f"The city of {text.name(rng)} should {rng.choice(text.VERBS)[:-1]} "
                           f"its {rng.choice(text.WORDS)} {rng.choice(text.WORDS)} budget",
                    background=text.paragraph(rng, 220))
               for i in range(sizes.num_motions)]
    return {"motions": motions}


def _turns(sizes: Sizes) -> list[str]:
    return [side for _ in range(sizes.num_rounds) for side in ("PRO", "CON")]


def statements(sizes: Sizes) -> list[str]:
    ctes = ["t0 AS (SELECT mid, motion, background, '' AS transcript FROM motions)"]
    for i, side in enumerate(_turns(sizes), start=1):
        call = f"llm({sql_string(DEBATE + TURNS[side])}, max_tokens => {MAX_TOKENS})"
        ctes.append(f"t{i} AS (SELECT mid, motion, background, "
                    f"transcript || '{side}: ' || {call} || chr(10) AS transcript FROM t{i - 1})")
    last = len(ctes) - 1
    return ["WITH " + ",\n".join(ctes) + f"""
SELECT mid, transcript, llm({sql_string(JUDGE)}, max_tokens => {MAX_TOKENS}) AS verdict
FROM t{last}
ORDER BY mid"""]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """Per motion: the turns in order, each reading the transcript so far, then the judge."""
    rows = []
    for m in tables["motions"]:
        transcript = ""
        for side in _turns(sizes):
            answer = llm(render(DEBATE + TURNS[side], **m, transcript=transcript), MAX_TOKENS)
            transcript += f"{side}: {answer}\n"
        rows.append((m["mid"], transcript, llm(render(JUDGE, **m, transcript=transcript), MAX_TOKENS)))
    return [sorted(rows)]


WORKLOAD = Workload(
    name="debate",
    description="two agents over several rounds, one chained CTE per turn carrying the "
                "growing transcript, then a judge",
    sizes={"quick": Sizes(num_motions=2, num_rounds=2), "full": Sizes(num_motions=6, num_rounds=3)},
    data=data, statements=statements, agent=agent)
