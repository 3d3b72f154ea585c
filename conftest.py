"""Docstring examples run as tests: every module of the packages below is collected as a
doctest module (the test folders are not: their conftest files share one name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).parent
DOCTESTED = ("heliumsql", "grammar", "engine")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".py" or file_path.name == "conftest.py":
        return None
    parts = file_path.relative_to(ROOT).parts if file_path.is_relative_to(ROOT) else ()
    if parts and parts[0] in DOCTESTED:
        return DoctestModule.from_parent(parent, path=file_path)
    return None
