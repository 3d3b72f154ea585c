"""Every way a model can fail to load or to reach its device is a ``ModelLoadError`` that names
the path (or the object given) and says what was expected; from ``Engine``, from the reference
backend and from SQL, whatever the optimizer setting (issue 17, item 3)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import heliumsql
from heliumsql.engine import Engine, HFGenerateEngine
from heliumsql.errors import HeliumError, ModelLoadError


def _weights(d: Path) -> Path:
    return d / "model.safetensors"


def _config_edit(**changes: object) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        config = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**config, **changes}))
    return edit


BREAKS: dict[str, Callable[[Path], None]] = {
    "truncated_weights": lambda d: _weights(d).write_bytes(_weights(d).read_bytes()[:5000]),
    "empty_weights": lambda d: _weights(d).write_bytes(b""),
    "garbage_weights": lambda d: _weights(d).write_bytes(os.urandom(4096)),
    "no_weights": lambda d: _weights(d).unlink(),
    "shape_mismatch": _config_edit(intermediate_size=96),
    "config_is_a_list": lambda d: (d / "config.json").write_text("[1, 2, 3]"),
    "config_not_json": lambda d: (d / "config.json").write_text("{hidden_size: 64"),
    "no_config": lambda d: (d / "config.json").unlink(),
    "zero_layers": _config_edit(num_hidden_layers=0),
    "no_tokenizer": lambda d: (d / "tokenizer.json").unlink(),
}


@pytest.fixture(params=sorted(BREAKS))
def broken(request: pytest.FixtureRequest, model_paths: dict[str, Path], tmp_path: Path) -> Path:
    path = tmp_path / request.param
    shutil.copytree(model_paths["llama"], path)
    BREAKS[request.param](path)
    return path


def test_a_broken_checkpoint_is_a_model_load_error_naming_its_path(broken: Path) -> None:
    with pytest.raises(ModelLoadError, match=str(broken)):
        Engine(broken)
    with pytest.raises(ModelLoadError, match=str(broken)):
        HFGenerateEngine(broken)


def test_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist") as err:
        Engine(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value)


@pytest.mark.parametrize("spec, shown", [(5, "model=5"), ((None, None), "model=(None, None)"),
                                         ((1, 2, 3), "model=(1, 2, 3)"), (None, "model=None")])
def test_an_object_that_is_no_model_is_named(spec: object, shown: str) -> None:
    with pytest.raises(ModelLoadError) as err:
        Engine(spec)  # type: ignore[arg-type]
    assert shown in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize("device, says", [("nonsense", "not a torch device"),
                                          ("cuda", "no CUDA GPU")])
def test_a_device_that_is_not_there(model_paths: dict[str, Path], device: str, says: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelLoadError, match=says) as err:
        Engine(model_paths["llama"], device=device)
    assert str(model_paths["llama"]) in str(err.value)


def test_users_catch_engine_errors_through_the_one_hierarchy(tmp_path: Path) -> None:
    """The engine has its own error module; heliumsql's names are the same classes."""
    from heliumsql.engine import errors as engine_errors

    assert heliumsql.ModelLoadError is ModelLoadError is engine_errors.ModelLoadError
    assert heliumsql.errors.EngineError is engine_errors.EngineError
    with pytest.raises(HeliumError):
        Engine(tmp_path / "nope")
    with pytest.raises(heliumsql.errors.EngineError):
        Engine(tmp_path / "nope")


@pytest.mark.parametrize("optimize", [True, False])
@pytest.mark.parametrize("case", ["garbage_weights", "config_is_a_list", "zero_layers"])
def test_sql_reports_the_model_load_error_not_a_plan_error(
        model_paths: dict[str, Path], tmp_path: Path, case: str, optimize: bool) -> None:
    path = tmp_path / case
    shutil.copytree(model_paths["llama"], path)
    BREAKS[case](path)
    con = heliumsql.connect(model=path, optimize=optimize)
    try:
        with pytest.raises(ModelLoadError, match=str(path)):
            # Rows sharing a long static prefix: the optimizer's prefix factoring reads the
            # tokenizer, which is where the load happened (and was reported as a PlanError).
            con.sql("SELECT llm('Answer in one short word, please: {x}', max_tokens => 2) AS a "
                    "FROM (VALUES ('red'), ('green'), ('blue')) t(x)")
        assert con.sql("SELECT 42").fetchall() == [(42,)]  # the connection still works
    finally:
        con.close()


def test_the_optimizer_lets_a_model_load_error_through_unwrapped() -> None:
    """A rule that reads the tokenizer is where a lazily loaded model first loads; the driver
    names a failing rule in a PlanError, but a model that fails to load is not the rule's fault."""
    import sqlglot

    from heliumsql.binder import Catalog
    from heliumsql.optimizer import RuleContext, optimize
    from heliumsql.planner import build_plan

    con = heliumsql.connect(model="/never/loaded")
    plan = build_plan(sqlglot.parse_one("SELECT llm('Say hi') AS a", read="helium"),
                      Catalog(con.duckdb))

    def loads_the_model() -> object:
        raise ModelLoadError("model path '/never/loaded' does not exist")

    def reads_the_tokenizer(plan, ctx):  # noqa: ANN001, ANN202 - a rule
        ctx.tokenizer()
        return plan

    with pytest.raises(ModelLoadError, match="/never/loaded"):
        optimize(plan, RuleContext(con.duckdb, loads_the_model), (reads_the_tokenizer,))
    con.close()
