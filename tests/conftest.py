"""Suite-wide test settings.

Tests never touch the user's result cache: ``connect()`` defaults to
``~/.cache/heliumsql/results.duckdb``, which would make reruns of the suite answer from earlier
runs (and fill the user's cache). Tests that exercise the cache pass ``result_cache=`` explicitly.
Set before collection, so subprocesses the tests start (REPL, notebooks) inherit it too.
"""

from __future__ import annotations

import os

from heliumsql.result_cache import ENV_VAR


def pytest_configure(config) -> None:  # noqa: ANN001 - pytest hook
    os.environ[ENV_VAR] = "none"
