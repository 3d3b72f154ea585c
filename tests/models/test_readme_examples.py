"""README examples that run on the built-in model: each ```python block of a README section
listed here is executed as written (its ``assert`` lines state what the README promises)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
# Paragraph headings (``**LLM joins.**``) whose python blocks are run.
SECTIONS = ["**Typed answers.**", "**LLM joins.**"]


def python_blocks(heading: str) -> list[str]:
    """The python blocks after ``heading`` up to the next bold paragraph heading or section."""
    text = README.read_text()
    start = text.index(heading)
    end = min((m.start() for m in re.finditer(r"\n(\*\*[A-Z][^*]*\.\*\*|##+ )", text[start + 1:])),
              default=len(text) - start - 1) + start + 1
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.mark.parametrize("heading", SECTIONS)
def test_readme_section_examples_run(heading: str) -> None:
    blocks = python_blocks(heading)
    assert blocks, f"README section {heading} has no python example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, f"README {heading}", "exec"), namespace)  # noqa: S102
        con = namespace.get("con")
        if con is not None:
            con.close()
