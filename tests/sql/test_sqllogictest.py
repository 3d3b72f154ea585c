"""DuckDB's own sqllogictest files through HeliumSQL: every record DuckDB passes passes through
HeliumSQL with DuckDB's exact outcome (rows with the same Python values and types, or the same
error). The files are vendored under tests/fixtures/sqllogictest (MIT, see its LICENSE)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import heliumsql
from sqllogictest import parse, run_file

FILES = sorted((Path(__file__).parents[1] / "fixtures" / "sqllogictest").rglob("*.test"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_duckdb_file_passes_through_heliumsql(path, tmp_path):
    report = run_file(path, tmp_path / "scratch")
    assert not report.skipped_file, report.skipped_file
    # A runner that understood nothing would pass vacuously (test_the_suite_is_wide counts all).
    assert report.duckdb_passed > 0, report
    assert report.helium_passed == report.duckdb_passed, "\n".join(report.mismatches)


def test_the_suite_is_wide():
    records = [r for path in FILES for r in parse(path.read_text())[0] if r.kind in ("statement", "query")]
    assert len(FILES) >= 100 and len(records) >= 3000
    text = " ".join(r.sql.upper() for r in records)
    for feature in ("OVER (", "WITH RECURSIVE", "PIVOT", "PREPARE", "EXECUTE", "COPY", "EXPORT DATABASE",
                    "IMPORT DATABASE", "RETURNING", "MERGE INTO", "UHUGEINT", "TIMETZ", "BIT", "INTERVAL",
                    "JSON", "STRUCT", "MAP", "UNION"):
        assert feature in text, feature


SMALL = """
statement ok
CREATE TABLE t(u UHUGEINT)

statement ok
INSERT INTO t VALUES (340282366920938463463374607431768211455)

query I
SELECT u FROM t
----
340282366920938463463374607431768211455

query I
SELECT u FROM t
----
1

statement error
SELECT * FROM missing
----
does not exist
"""


class _ThroughArrow:
    """A connection that hands rows back through Arrow, as HeliumSQL once did."""

    def __init__(self, database: str) -> None:
        self.con = duckdb.connect(database)

    def sql(self, text: str):  # noqa: ANN201
        result = self.con.sql(text)
        return None if result is None else self.con.from_arrow(result.to_arrow_table())

    def close(self) -> None:
        self.con.close()


def test_runner_counts_only_what_duckdb_passes_and_catches_a_difference(tmp_path, monkeypatch):
    path = tmp_path / "small.test"
    path.write_text(SMALL)
    report = run_file(path, tmp_path / "scratch")
    # The second query expects a wrong value: DuckDB fails it, so it is not counted.
    assert (report.records, report.duckdb_passed, report.helium_passed) == (5, 4, 4)
    monkeypatch.setattr(heliumsql, "connect", lambda db, **_: _ThroughArrow(db))
    report = run_file(path, tmp_path / "scratch")
    assert report.helium_passed == 3 and "small.test:8:" in report.mismatches[0]
