"""The README's examples for embeddings, similarity search and hierarchical aggregation run as
written (one namespace, in order, in a scratch directory) and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Embeddings, similarity search and groups longer than the context"


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_the_examples_run_and_print_what_the_text_says(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    blocks = _blocks()
    assert len(blocks) == 3
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    printed = out.getvalue().splitlines()
    assert printed[0] == "[('FLOAT[32]',)]"
    assert printed[1].startswith("[(1, 'the battery lasts all day', 1.0), (3, 'the battery lasts all day', 1.0)]")
    assert re.match(r"\s*search  index over 3 rows \(built in", printed[2])
    assert re.match(r"\s*tree  2 groups over the context: \d+ levels, \d+ calls \(level 0: \d+", printed[3])
