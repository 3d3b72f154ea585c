"""The persistent result cache: finished LLM answers in a DuckDB table, reused across queries.

An answer is keyed by the model's fingerprint, the prompt's token ids (after chat formatting,
so a different ``system =>`` is a different key), the sampling parameters (seed included) and
the sample index. A rerun of a query, or a workflow sharing steps with an earlier one, sends
only the prompts the cache does not hold.

The cache file is opened at the start of a query and closed at its end, so several processes
can share one file as long as their queries do not overlap (DuckDB allows one writing process
at a time). If another process holds the file, the query runs without the cache and a
:class:`ResultCacheWarning` says so. Answers are written in transactions of a few rows (one
per ``flush_rows`` answers or ``flush_seconds``), so a killed process leaves the file
consistent and a rerun reuses every flushed answer.

>>> cache = ResultCache(":memory:")
>>> with cache.session() as s:
...     s.put(s.key("fp", [1, 2], SamplingParams(max_tokens=4), 0), "hi", Completion(0, "ok", (5,), 2))
...     s.get([s.key("fp", [1, 2], SamplingParams(max_tokens=4), 0)])[0].text
'ok'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams
from heliumsql.plan.names import CACHE_BATCH

# Environment override of the default location: a path, ":memory:", or "none"/"off" to disable.
ENV_VAR = "HELIUMSQL_RESULT_CACHE"
_TABLE = "helium_results"
_SCHEMA = pa.schema([("key", pa.string()), ("model", pa.string()), ("prompt", pa.string()),
                     ("params", pa.string()), ("sample", pa.int32()),
                     ("num_prompt_tokens", pa.int32()), ("text", pa.string()),
                     ("token_ids", pa.list_(pa.int32())), ("finish_reason", pa.string()),
                     ("choice", pa.int32())])
_DDL = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
  key VARCHAR PRIMARY KEY, model VARCHAR, prompt VARCHAR, params VARCHAR, sample INTEGER,
  num_prompt_tokens INTEGER, text VARCHAR, token_ids INTEGER[], finish_reason VARCHAR,
  choice INTEGER, created TIMESTAMP DEFAULT current_timestamp)"""
_COLUMNS = ", ".join(_SCHEMA.names)


class ResultCacheWarning(UserWarning):
    """The result cache could not be used for a query (the query still runs, uncached)."""


# ``connect(result_cache=...)`` default: the user's cache directory (see default_path).
DEFAULT_RESULT_CACHE = "default"


def open_result_cache(spec: Any) -> ResultCache | None:
    """The cache ``connect(result_cache=spec)`` asks for: a path, a ResultCache, None or the
    default."""
    if spec == DEFAULT_RESULT_CACHE:
        spec = default_path()
    if spec is None or isinstance(spec, ResultCache):
        return spec
    return ResultCache(spec)


def default_path() -> str | None:
    """Where ``connect()`` keeps the cache unless told otherwise: ``$HELIUMSQL_RESULT_CACHE``
    (``none`` disables it), else ``$XDG_CACHE_HOME/heliumsql/results.duckdb``, else
    ``~/.cache/heliumsql/results.duckdb``."""
    override = os.environ.get(ENV_VAR)
    if override is not None:
        return None if override.strip().lower() in ("", "none", "off", "false", "0") else override
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "heliumsql", "results.duckdb")


def params_text(params: SamplingParams) -> str:
    """Canonical text of sampling parameters (part of the key, kept readable in the table)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True, separators=(",", ":"))


class ResultCache:
    """A result cache in a DuckDB file (or ``":memory:"``, kept for this object's lifetime).

    ``flush_rows`` / ``flush_seconds`` bound how much finished work a killed process can lose;
    ``lock_timeout`` is how long a query waits for another process to release the file.

    >>> ResultCache("/tmp/results.duckdb").path                      # doctest: +SKIP
    '/tmp/results.duckdb'
    """

    def __init__(self, path: str | os.PathLike, *, flush_rows: int = 256, flush_seconds: float = 0.5,
                 lock_timeout: float = 0.5) -> None:
        self.path = os.fspath(path)
        self.flush_rows, self.flush_seconds, self.lock_timeout = flush_rows, flush_seconds, lock_timeout
        self._memory: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    def _open(self) -> duckdb.DuckDBPyConnection | None:
        if self.in_memory:
            if self._memory is None:
                self._memory = duckdb.connect(":memory:")
                self._memory.execute(_DDL)
            return self._memory
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                con = duckdb.connect(self.path)
                con.execute(_DDL)
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    warnings.warn(f"result cache {self.path} cannot be opened ({exc}); running "
                                  "this query without it", ResultCacheWarning, stacklevel=4)
                    return None
                if time.monotonic() >= deadline:
                    warnings.warn(f"result cache {self.path} is in use by another process; running "
                                  "this query without it (pass result_cache=PATH with another "
                                  "file, or ':memory:', to cache in both)", ResultCacheWarning,
                                  stacklevel=4)
                    return None
                time.sleep(0.05)

    @contextmanager
    def session(self) -> Iterator["CacheSession | None"]:
        """The cache for one query (``None`` when it cannot be opened); flushed and closed on
        exit, also when the query fails or is cancelled."""
        with self._lock:
            con = self._open()
        if con is None:
            yield None
            return
        session = CacheSession(con, self.flush_rows, self.flush_seconds)
        try:
            yield session
        finally:
            try:
                session.flush()
            finally:
                if not self.in_memory:
                    con.close()

    def count(self) -> int:
        """Answers held (opens the file; for tests and the REPL)."""
        with self.session() as s:
            return 0 if s is None else s.count()

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


class CacheSession:
    """An open cache during one query: batched lookups, buffered transactional writes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, flush_rows: int, flush_seconds: float) -> None:
        self.con, self.flush_rows, self.flush_seconds = con, flush_rows, flush_seconds
        self._rows: list[dict] = []
        self._last_flush = time.monotonic()
        self._failed = False  # a read or write failed: the query goes on without the cache

    def _give_up(self, exc: Exception) -> None:
        self._failed, self._rows = True, []
        warnings.warn(f"result cache failed ({exc}); the query goes on without it",
                      ResultCacheWarning, stacklevel=3)

    @staticmethod
    def key(model: str, token_ids: Sequence[int], params: SamplingParams, sample: int) -> str:
        """The cache key of one answer."""
        digest = hashlib.sha256()
        digest.update(model.encode())
        digest.update(b"\0" + ",".join(map(str, token_ids)).encode())
        digest.update(b"\0" + params_text(params).encode())
        digest.update(f"\0{sample}".encode())
        return digest.hexdigest()

    @staticmethod
    def text_key(*parts: str) -> str:
        """The cache key of a value that is not a generation (e.g. an embedding): a digest of
        ``parts``, which must name what kind of value it is and everything it depends on."""
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get_values(self, keys: Sequence[str]) -> list[str | None]:
        """The stored text of each ``text_key``, or None."""
        return [None if c is None else c.text for c in self.get(keys)]

    def put_value(self, key: str, prompt: str, value: str, *, model: str = "") -> None:
        """Store ``value`` (text) under a ``text_key``; ``prompt`` is kept for people reading
        the table."""
        self.put(key, prompt, Completion(0, value, (), 0, 0, "value"), model=model)

    def get(self, keys: Sequence[str]) -> list[Completion | None]:
        """The cached completion of each key, or None (``index`` is the key's position)."""
        if not keys or self._failed:
            return [None] * len(keys)
        try:
            found = {row[0]: row for row in self.con.execute(
                f"SELECT key, text, token_ids, num_prompt_tokens, finish_reason, choice FROM {_TABLE} "
                "WHERE key IN (SELECT unnest($1::VARCHAR[]))", [list(dict.fromkeys(keys))]).fetchall()}
        except duckdb.Error as exc:
            self._give_up(exc)
            return [None] * len(keys)
        for r in self._rows:  # written this query, not flushed yet
            found[r["key"]] = (r["key"], r["text"], r["token_ids"], r["num_prompt_tokens"],
                               r["finish_reason"], r["choice"])
        out: list[Completion | None] = []
        for i, key in enumerate(keys):
            row = found.get(key)
            out.append(None if row is None else Completion(
                i, row[1], tuple(row[2] or ()), row[3], 0, row[4], row[5]))
        return out

    def put(self, key: str, prompt: str, completion: Completion, *, model: str = "",
            params: SamplingParams | None = None, sample: int = 0) -> None:
        """Buffer one answer; written with the next flush."""
        if self._failed:
            return
        self._rows.append(dict(key=key, model=model, prompt=prompt,
                               params=params_text(params) if params is not None else "",
                               sample=sample, num_prompt_tokens=completion.num_prompt_tokens,
                               text=completion.text, token_ids=list(completion.token_ids),
                               finish_reason=completion.finish_reason, choice=completion.choice))
        if (len(self._rows) >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the buffered answers in one transaction."""
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        # One row per key: INSERT OR IGNORE skips keys already stored, not repeats in one batch.
        rows = list({r["key"]: r for r in self._rows}.values())
        batch = pa.Table.from_pylist(rows, schema=_SCHEMA)
        self._rows = []
        try:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.register(CACHE_BATCH, batch)
                self.con.execute(f"INSERT OR IGNORE INTO {_TABLE} ({_COLUMNS}) "
                                 f"SELECT {_COLUMNS} FROM {CACHE_BATCH}")
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            finally:
                self.con.unregister(CACHE_BATCH)
        except duckdb.Error as exc:  # e.g. disk full: the answers are still the query's
            self._give_up(exc)

    def count(self) -> int:
        return self.con.execute(f"SELECT count(*) FROM {_TABLE}").fetchone()[0]
