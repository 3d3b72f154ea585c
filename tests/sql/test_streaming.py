"""Large inputs stream: results come in batches, and LLM work touches only the rows it needs."""

from __future__ import annotations

import os

import pyarrow as pa

ROWS = 1_000_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_pure_query_streams_in_batches_without_materialising(con):
    con.sql(f"CREATE TABLE big AS SELECT range AS id, repeat('x', 200) || range AS body FROM range({ROWS})")
    res = con.sql("SELECT id, body FROM big")
    before, peak, rows, batches = rss_bytes(), 0, 0, 0
    for batch in res.fetch_record_batch(10_000):
        assert isinstance(batch, pa.RecordBatch) and batch.num_rows <= 10_000
        rows += batch.num_rows
        batches += 1
        peak = max(peak, rss_bytes() - before)
    assert rows == ROWS and batches >= ROWS // 10_000
    full_size = ROWS * 210  # what materialising the bodies alone would take
    assert peak < full_size / 2, f"memory grew by {peak / 1e6:.0f} MB while streaming"


def test_llm_query_over_a_filtered_few_rows_of_a_large_table(con):
    con.sql(f"CREATE TABLE big2 AS SELECT range AS id, 'row ' || range AS body FROM range({ROWS})")
    res = con.sql("SELECT id, llm('{body}', max_tokens => 2) AS a FROM big2 WHERE id % 250000 = 7 "
                  "ORDER BY id")
    assert [r[0] for r in res.fetchall()] == [7, 250007, 500007, 750007]
    (stats,) = res.analyze.operators.values()
    assert stats.rows_in == 4 and stats.distinct_prompts == 4 and stats.on_demand_prompts == 0
    batches = list(res)
    assert sum(b.num_rows for b in batches) == 4
