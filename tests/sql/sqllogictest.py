"""A small runner for DuckDB's sqllogictest files, run through plain DuckDB and through HeliumSQL.

A file runs twice, each time on a fresh database and the same scratch directory (so paths in
error messages agree): first through ``duckdb.connect()``, then through
``heliumsql.connect(result_cache=None)``. A record *passes in DuckDB* when DuckDB's outcome is
what the file expects; every such record must give, through HeliumSQL, exactly DuckDB's outcome:
the same rows with the same Python values and types, or the same error class and message.

Supported: ``statement ok|error|maybe`` (with an expected error after ``----``, ``<REGEX>:``
too), ``query <types> [nosort|rowsort|valuesort] [label]`` with rows or ``N values hashing to
H``, ``loop`` / ``foreach`` / ``concurrentloop`` (run in order), ``skipif`` / ``onlyif``,
``mode skip`` / ``unskip``, ``halt``, ``load`` (a database file), ``restart``, ``require`` of
loadable extensions. A file needing anything else (``require`` of what is absent, ``require-env``)
is skipped whole; a record on a second connection (``statement ok con2``) is skipped and counted.
Values are rendered for the expected text by DuckDB itself (``CAST(x AS VARCHAR)``), as DuckDB's
own runner renders them.

    python tests/sql/sqllogictest.py tests/fixtures/sqllogictest     # counts per file
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

_SORT_MODES = {"nosort", "rowsort", "valuesort"}
_HARMLESS_REQUIRES = {"skip_reload", "no_alternative_verify", "noalternativeverify", "notmusl",
                      "64bit", "notwindows", "no_extension_autoloading", "noforcestorage",
                      "no_latest_storage", "no_vector_verification", "no_block_verification"}


@dataclass(frozen=True)
class Record:
    """One record: ``kind`` is statement, query, load or restart."""

    kind: str
    line: int
    sql: str = ""
    expect: str = "ok"  # statement: ok, error or maybe; query: the column types
    sort: str = "nosort"
    label: str = ""
    expected: tuple[str, ...] = ()
    skip: str = ""  # why the record is not run, if it is not


@dataclass
class Outcome:
    """What running one record gave: rows (typed) or an error, and whether the file agreed."""

    rows: list[tuple[tuple[str, str], ...]] | None = None
    error: tuple[str, str] | None = None
    as_expected: bool = False


@dataclass
class FileReport:
    path: str
    skipped_file: str = ""
    records: int = 0
    skipped: int = 0
    duckdb_passed: int = 0
    helium_passed: int = 0
    mismatches: list[str] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------------
def parse(text: str) -> tuple[list[Record], str]:
    """The records of a file (loops unrolled) and, if the whole file cannot run, why."""
    lines = text.splitlines()
    return _parse_block(lines, 0, len(lines), {})


def _parse_block(lines: list[str], start: int, stop: int, env: dict[str, str]
                 ) -> tuple[list[Record], str]:
    records: list[Record] = []
    i, conditions = start, []
    while i < stop:
        words = _substitute(lines[i], env).split()
        if not words or words[0].startswith("#"):
            i += 1
            continue
        head = words[0]
        if head in ("skipif", "onlyif"):
            conditions.append((head, words[1] if len(words) > 1 else ""))
            i += 1
            continue
        skip = next((f"{h} {w}" for h, w in conditions
                     if (h == "skipif" and w == "duckdb") or (h == "onlyif" and w != "duckdb")), "")
        conditions = []
        if head in ("loop", "foreach", "concurrentloop", "concurrentforeach"):
            end = _matching_endloop(lines, i, stop)
            values = ([str(v) for v in range(int(words[2]), int(words[3]))] if "loop" in head
                      else _foreach_values(words[2:]))
            for value in values:
                inner, why = _parse_block(lines, i + 1, end, {**env, words[1]: value})
                if why:
                    return records, why
                records.extend(inner)
            i = end + 1
            continue
        if head == "require":
            why = _unmet_requirement(words[1:])
            if why:
                return records, why
        elif head in ("require-env", "test-env", "unzip", "reconnect", "tags", "set"):
            if head not in ("tags", "set"):
                return records, f"{head} is not supported"
        elif head == "halt":
            break
        elif head == "mode" and words[1:] == ["skip"]:
            i = next((j for j in range(i, stop) if lines[j].split() == ["mode", "unskip"]), stop)
        elif head in ("statement", "query"):
            record, i = _parse_record(lines, i, stop, env, words, skip)
            records.append(record)
            continue
        elif head == "load":
            records.append(Record("load", i + 1, words[1] if len(words) > 1 else "", skip=skip))
        elif head == "restart":
            records.append(Record("restart", i + 1, skip=skip))
        i += 1
    return records, ""


def _parse_record(lines: list[str], i: int, stop: int, env: dict[str, str], words: list[str],
                  skip: str) -> tuple[Record, int]:
    first = i + 1
    body, expected, j, in_result = [], [], i + 1, False
    while j < stop and lines[j].strip():
        text = _substitute(lines[j], env)
        if text == "----":
            in_result = True
        elif in_result:
            expected.append(text)
        else:
            body.append(text)
        j += 1
    extra = words[2:]
    if words[0] == "statement":
        if extra and not skip:
            skip = f"connection {extra[0]}"
        return Record("statement", first, "\n".join(body), words[1] if len(words) > 1 else "ok",
                      expected=tuple(expected), skip=skip), j
    sort = next((w for w in extra if w in _SORT_MODES), "nosort")
    label = next((w for w in extra if w not in _SORT_MODES), "")
    if label.startswith("con") and label[3:].isdigit() and not skip:
        skip = f"connection {label}"
    return Record("query", first, "\n".join(body), words[1] if len(words) > 1 else "",
                  sort, label, tuple(expected), skip), j


def _matching_endloop(lines: list[str], start: int, stop: int) -> int:
    depth = 0
    for j in range(start, stop):
        head = lines[j].split()[:1]
        if head and head[0] in ("loop", "foreach", "concurrentloop", "concurrentforeach"):
            depth += 1
        elif head == ["endloop"]:
            depth -= 1
            if depth == 0:
                return j
    return stop


def _foreach_values(words: list[str]) -> list[str]:
    groups = {"<integral>": ["tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint",
                             "usmallint", "uinteger", "ubigint", "uhugeint"],
              "<numeric>": ["tinyint", "smallint", "integer", "bigint", "hugeint", "float",
                            "double"], "<signed>": ["tinyint", "smallint", "integer", "bigint",
                                                    "hugeint"]}
    return [v for w in words for v in groups.get(w, [w])]


def _substitute(line: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        line = line.replace("${" + name + "}", value).replace("{" + name + "}", value)
    return line


def _unmet_requirement(words: list[str]) -> str:
    name = words[0] if words else ""
    if name in _HARMLESS_REQUIRES:
        return ""
    if name == "vector_size":
        return "" if duckdb.__standard_vector_size__ >= int(words[1]) else "vector size"
    try:
        duckdb.connect().execute(f"LOAD {name}")
    except duckdb.Error:
        return f"require {name}"
    return ""


# -- running -----------------------------------------------------------------------------------
class Side:
    """One way of running SQL (``connect`` makes the connection: DuckDB's or HeliumSQL's)."""

    def __init__(self, connect: Any, scratch: Path) -> None:
        self.connect, self.scratch = connect, scratch
        self.database = ":memory:"
        self.con = connect(self.database)
        self.labels: dict[str, list[str]] = {}

    def substitute(self, sql: str) -> str:
        return sql.replace("__TEST_DIR__", str(self.scratch)).replace("{TEST_DIR}", str(self.scratch))

    def run(self, record: Record) -> Outcome:
        if record.kind in ("load", "restart"):
            if record.kind == "load":
                self.database = self.substitute(record.sql) or ":memory:"
            self.con.close()
            self.con = self.connect(self.database)
            return Outcome(rows=[], as_expected=True)
        try:
            result = self.con.sql(self.substitute(record.sql))
            rows = [] if result is None else result.fetchall()
            shown = _rendered(result, len(rows)) if record.kind == "query" else []
        except Exception as exc:  # noqa: BLE001 - every error is an outcome to compare
            message = str(exc)
            return Outcome(error=(type(exc).__name__, message),
                           as_expected=record.kind == "statement" and record.expect in ("error", "maybe")
                           and _error_matches(message, record.expected))
        typed = [tuple((type(v).__name__, repr(v)) for v in row) for row in rows]
        if record.kind == "statement":
            return Outcome(rows=typed, as_expected=record.expect in ("ok", "maybe"))
        width = len(shown[0]) if shown else (len(result.columns) if result is not None else 0)
        return Outcome(rows=typed, as_expected=width == len(record.expect)
                       and self._matches(record, shown))

    def _matches(self, record: Record, shown: list[list[str]]) -> bool:
        if record.sort == "rowsort":
            shown = sorted(shown)
        values = [v for row in shown for v in row]
        if record.sort == "valuesort":
            values = sorted(values)
        if record.label and not record.expected and record.label in self.labels:
            return values == self.labels[record.label]
        if record.label:
            self.labels[record.label] = values
        expected = list(record.expected)
        if len(expected) == 1 and (m := re.fullmatch(r"(\d+) values hashing to ([0-9a-f]+)", expected[0])):
            digest = hashlib.md5("".join(v + "\n" for v in values).encode()).hexdigest()
            return int(m[1]) == len(values) and digest == m[2]
        rows = [line.split("\t") for line in expected]
        flat = [v for row in rows for v in row]
        if len(flat) != len(values):
            return False
        return all(_same_value(a, b, t) for a, b, t in zip(flat, values, _types(record, flat)))


def _rendered(result: Any, num_rows: int) -> list[list[str]]:
    """The rows as DuckDB's runner shows them: DuckDB's VARCHAR cast, NULL, and (empty)."""
    if result is None or not num_rows:
        return []
    relation = getattr(result, "relation", result)
    text = relation.project("COLUMNS(*)::VARCHAR").fetchall()
    return [["NULL" if v is None else "(empty)" if v == "" else v for v in row] for row in text]


def _types(record: Record, flat: list[str]) -> list[str]:
    types = record.expect or "T"
    return [types[i % len(types)] for i in range(len(flat))]


def _same_value(expected: str, got: str, kind: str) -> bool:
    if expected == got:
        return True
    if kind == "R":
        try:
            a, b = float(expected), float(got)
        except ValueError:
            return False
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return False


def _error_matches(message: str, expected: tuple[str, ...]) -> bool:
    if not expected:
        return True
    want = "\n".join(expected)
    if want.startswith("<REGEX>:"):
        return re.search(want[8:], message, re.DOTALL) is not None
    if want.startswith("<!REGEX>:"):
        return re.search(want[9:], message, re.DOTALL) is None
    return want in message


def run_file(path: Path, scratch: Path) -> FileReport:
    """Run ``path`` through DuckDB, then through HeliumSQL; compare record by record."""
    import heliumsql

    report = FileReport(str(path))
    records, why = parse(path.read_text())
    if why:
        report.skipped_file = why
        return report
    outcomes = _run_all(Side(lambda db: duckdb.connect(db), scratch), records)
    helium = _run_all(Side(lambda db: heliumsql.connect(db, result_cache=None), scratch), records)
    for record, ours, theirs in zip(records, helium, outcomes):
        if record.kind not in ("statement", "query"):
            continue
        report.records += 1
        if theirs is None:
            report.skipped += 1
            continue
        if not theirs.as_expected:
            continue
        report.duckdb_passed += 1
        same = ours is not None and ours.as_expected and ours.error == theirs.error and \
            _ordered(ours.rows, record) == _ordered(theirs.rows, record)
        if same:
            report.helium_passed += 1
        else:
            report.mismatches.append(f"{path.name}:{record.line}: {record.sql[:120]!r}: DuckDB "
                                     f"{theirs.error or theirs.rows!r:.300} HeliumSQL "
                                     f"{ours and (ours.error or ours.rows)!r:.300}")
    return report


def _ordered(rows: list | None, record: Record) -> list | None:
    return sorted(rows) if rows is not None and record.sort != "nosort" else rows


def _run_all(side: Side, records: list[Record]) -> list[Outcome | None]:
    shutil.rmtree(side.scratch, ignore_errors=True)
    side.scratch.mkdir(parents=True)
    outcomes: list[Outcome | None] = []
    try:
        for record in records:
            outcomes.append(None if record.skip else side.run(record))
    finally:
        side.con.close()
    return outcomes


def main(folder: str) -> None:
    import tempfile

    totals = FileReport("all")
    files = sorted(Path(folder).rglob("*.test"))
    with tempfile.TemporaryDirectory() as scratch:
        for path in files:
            report = run_file(path, Path(scratch) / "t")
            print(f"{path.name}: {report.skipped_file or ''} records={report.records} "
                  f"skipped={report.skipped} duckdb={report.duckdb_passed} "
                  f"heliumsql={report.helium_passed}")
            for line in report.mismatches:
                print("   ", line)
            for name in ("records", "skipped", "duckdb_passed", "helium_passed"):
                setattr(totals, name, getattr(totals, name) + getattr(report, name))
    print(f"files={len(files)} records={totals.records} skipped={totals.skipped} "
          f"passed in DuckDB={totals.duckdb_passed} passed through HeliumSQL={totals.helium_passed}")


if __name__ == "__main__":
    main(sys.argv[1])
