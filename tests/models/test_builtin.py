"""The shipped model: it loads, is the default, and answers held-out items through SQL.

Each task's held-out sample runs through the whole SQL path (``llm`` in SELECT with its template,
context columns and ``system =>``; ``llm_filter``; ``llm_agg`` over groups) and must score within
a margin of the held-out figure the training script measured (``metrics.json``, the README table).
"""

from __future__ import annotations

import json
from collections import defaultdict

import pyarrow as pa
import pytest

import heliumsql
from heliumsql.engine import load_model
from heliumsql.models import builtin_model_path
from heliumsql.models.data import heldout_split
from heliumsql.models.evaluate import token_f1
from heliumsql.models.example import Example
from heliumsql.models.tasks import TASKS
from heliumsql.models.vocabulary import PHRASING
from heliumsql.output_types import decode_json, parse_output_type

SAMPLE = 25     # held-out items per task run through SQL
MARGIN = 0.15   # a 25-item sample of a 100-item figure: allow sampling noise
MAX_BYTES = 25 * 2**20


@pytest.fixture(scope="module")
def metrics():
    path = builtin_model_path()
    assert path is not None, "heliumsql/models/builtin/ holds no checkpoint"
    return json.loads((path / "metrics.json").read_text())


@pytest.fixture(scope="module")
def con():
    with heliumsql.connect(result_cache=":memory:") as connection:  # no model: the built-in one
        yield connection


def test_builtin_checkpoint_is_small_and_loads_in_float32():
    path = builtin_model_path()
    assert path is not None and (path / "config.json").is_file()
    assert sum(f.stat().st_size for f in path.iterdir()) <= MAX_BYTES
    model, tok = load_model(str(path))
    assert str(next(model.parameters()).dtype) == "torch.float32"
    assert tok.chat_template
    assert 1e6 < sum(p.numel() for p in model.parameters()) < 2e7


def test_connect_without_model_uses_the_builtin(con):
    explicit = heliumsql.connect(model=str(builtin_model_path()), result_cache=":memory:")
    query = "SELECT llm('Is this review positive or negative? Review: {r}', max_tokens => 4) AS s " \
            "FROM (VALUES ('I love this lamp. The shipping was fast.'), ('Awful purchase.')) t(r)"
    assert con.sql(query).fetchall() == explicit.sql(query).fetchall() == [("positive",), ("negative",)]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _call(ex: Example) -> str:
    fn = {"llm": "llm", "filter": "llm_filter", "agg": "llm_agg", "classify": "llm_classify",
          "score": "llm_score"}[ex.kind]
    args = [_quote(ex.template), *ex.context]
    options = dict(ex.options)
    if ex.kind == "classify":
        labels, descriptions = options["labels"], options["descriptions"]
        args.append("{" + ", ".join(f"{_quote(label)}: {_quote(d)}" for label, d in zip(labels, descriptions)) + "}"
                    if descriptions else "[" + ", ".join(map(_quote, labels)) + "]")
        if options["multi"]:
            args.append("multi => true")
    elif ex.kind == "score":
        args += [str(options["low"]), str(options["high"])]
    elif ex.typed:
        args.append(f"returns => {_quote(options['returns'])}")
    if ex.system:
        args.append(f"system => {_quote(ex.system)}")
    if ex.kind != "filter" and not ex.typed:
        args.append("max_tokens => 32")
    return f"{fn}({', '.join(args)})"


def _expected(ex: Example) -> object:
    """The answer as the SQL value a typed call returns (the text itself otherwise)."""
    if not ex.typed:
        return ex.answer
    return decode_json(parse_output_type(dict(ex.options)["returns"]), ex.answer)


def _run_group(con, items: list[Example]) -> list[str]:
    """Answers of items sharing one call, from one SQL query over a table of their rows."""
    first = items[0]
    if first.kind == "agg":
        (column, _), = first.fields
        rows = [(g, v) for g, ex in enumerate(items) for v in ex.values[column]]
        table = pa.table({"g": [g for g, _ in rows], column: [v for _, v in rows]})
        query = f"SELECT g, {_call(first)} AS out FROM items GROUP BY g ORDER BY g"
    else:
        columns = {name: [ex.values[name] for ex in items] for name, _ in first.fields}
        table = pa.table({"id": list(range(len(items))), **columns})
        query = f"SELECT id, {_call(first)} AS out FROM items ORDER BY id"
    con.duckdb.register("items_arrow", table)
    con.sql("CREATE OR REPLACE TABLE items AS SELECT * FROM items_arrow")
    con.duckdb.unregister("items_arrow")
    out = [row[1] for row in con.sql(query).fetchall()]
    if first.kind == "filter":
        assert all(isinstance(v, bool) for v in out)  # llm_filter gives booleans only
        return ["yes" if v else "no" for v in out]
    return out


def _accuracy(con, items: list[Example], task: str) -> float:
    groups: dict[tuple, list[Example]] = defaultdict(list)
    for ex in items:
        groups[(ex.kind, ex.template, ex.context, ex.system, ex.options,
                tuple(n for n, _ in ex.fields))].append(ex)
    scored = []
    for group in groups.values():
        for ex, answer in zip(group, _run_group(con, group)):
            scored.append(token_f1(answer, ex.answer) if TASKS[task].metric == "overlap"
                          else float(answer == _expected(ex)))
    return sum(scored) / len(scored)


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
def test_heldout_accuracy_through_sql(con, metrics, task):
    items = heldout_split(metrics["seed"], SAMPLE)[task]
    accuracy = _accuracy(con, items, task)
    expected = metrics["tasks"][task]["score"]
    assert accuracy >= expected - MARGIN, f"{task}: {accuracy:.2f} through SQL vs {expected:.2f} measured"


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(t for t, spec in TASKS.items() if PHRASING in spec.unseen))
def test_unseen_phrasing_accuracy_through_sql(con, metrics, task):
    items = heldout_split(metrics["seed"], SAMPLE, PHRASING)[task]
    accuracy = _accuracy(con, items, task)
    expected = metrics["unseen_phrasing"][task]["score"]
    assert accuracy >= expected - MARGIN, f"{task}: {accuracy:.2f} through SQL vs {expected:.2f} measured"
