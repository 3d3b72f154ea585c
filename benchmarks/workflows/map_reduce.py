"""Workload 2, map-reduce summarization: chunk summaries, then a summary of summaries.

DuckDB splits each document into fixed-size chunks (``range`` + ``substr``); the map step
summarizes every chunk under the same long instructions and the document's title; the reduce
step (``llm_agg`` per document) merges the chunk summaries, numbered so they keep their order.

>>> WORKLOAD.statements(WORKLOAD.sizes["quick"])[0].count("llm_agg(")
1
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, aggregate, render, sql_string

MAX_TOKENS = 12
MAP = (
    "You summarize long reports for busy readers. You will see one part of a longer document. "
    "Write a summary of this part only: keep the facts, names and numbers that a reader would "
    "need to follow the whole document, drop examples, repetition and hedging. Do not guess at "
    "what other parts say. If the part is cut mid-sentence, summarize what is there. Use short "
    "plain sentences in the present tense. Never add opinions that are not in the text. Your "
    "summary will be merged with the summaries of the other parts, so do not introduce the "
    "document again and do not conclude it.\nDocument: {title}\nPart {part_no}:\n{chunk}\n"
    "Summary of this part:"
)
REDUCE = (
    "You merge part summaries into one summary of a whole document. The parts are numbered in "
    "reading order. Keep what the parts agree on, resolve repetition, and keep the order of the "
    "argument. One line, at most twenty words.\nPart summaries:\n{part}\nSummary of the document:"
)


@dataclass(frozen=True)
class Sizes:
    """``num_docs`` documents of ``num_chunks`` chunks of ``chunk_chars`` characters each."""

    num_docs: int
    num_chunks: int
    chunk_chars: int


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"map_reduce-{seed}")
    docs = []
    for i in range(sizes.num_docs):
        body = text.paragraph(rng, sizes.num_chunks * sizes.chunk_chars)[:sizes.num_chunks * sizes.chunk_chars]
        docs.append(dict(doc_id=i + 1, title=f"{text.name(rng)} {rng.choice(text.WORDS)} report",
                         body=body))
    return {"documents": docs}


def statements(sizes: Sizes) -> list[str]:
    return [f"""
WITH chunks AS (
  SELECT d.doc_id, d.title, c.i + 1 AS part_no,
         substr(d.body, c.i * {sizes.chunk_chars} + 1, {sizes.chunk_chars}) AS chunk
  FROM documents d CROSS JOIN range(0, {sizes.num_chunks}) c(i)
),
summaries AS (
  SELECT doc_id, part_no, llm({sql_string(MAP)}, max_tokens => {MAX_TOKENS}) AS summary
  FROM chunks
)
SELECT doc_id, llm_agg({sql_string(REDUCE)}, max_tokens => {MAX_TOKENS}) AS summary
FROM (SELECT doc_id, 'Part ' || part_no || ': ' || summary AS part FROM summaries) parts
GROUP BY doc_id
ORDER BY doc_id"""]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """Per document: summarize each chunk in turn, then merge."""
    rows = []
    n = sizes.chunk_chars
    for d in tables["documents"]:
        parts = []
        for i in range(sizes.num_chunks):
            chunk = d["body"][i * n:(i + 1) * n]
            summary = llm(render(MAP, title=d["title"], part_no=i + 1, chunk=chunk), MAX_TOKENS)
            parts.append(f"Part {i + 1}: {summary}")
        rows.append((d["doc_id"], llm(render(REDUCE, part=aggregate(parts)), MAX_TOKENS)))
    return [sorted(rows)]


WORKLOAD = Workload(
    name="map_reduce",
    description="documents split into chunks by DuckDB, a summary per chunk, a summary of "
                "summaries per document (llm_agg)",
    sizes={"quick": Sizes(num_docs=2, num_chunks=3, chunk_chars=200),
           "full": Sizes(num_docs=6, num_chunks=4, chunk_chars=300)},
    data=data, statements=statements, agent=agent)
